"""An attacking client (common/attacks.py): its honest update, corrupted, then encoded
by its algorithm as any update is. Used by `signfed client --attack` and by the
simulation's pool alike, so both send the same bits.

Colluding attacks (alie, ipm) need the honest updates of every attacker at x^t: each
attacker computes them from the attackers' own shards (their union is what the
colluders hold), once per round (`Colluders` caches the round it computed last, so a
simulation's attackers share one computation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from client.trainer import LocalTrainer
from common.algorithms import Algorithm
from common.attack_config import AttackConfig
from common.attacks import attacker_ids, corrupt, noise_rng
from common.config import RunConfig
from common.data import Dataset


class Colluders:
    """The attackers' honest updates at x^t, (F, N) float32, computed once per round."""

    def __init__(self, trainers: list[LocalTrainer], algorithm: Algorithm, run: RunConfig) -> None:
        self.trainers, self.algorithm, self.run = trainers, algorithm, run
        self._round = -1
        self._rows = np.zeros((0, 0), np.float32)

    def updates(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        if round_index != self._round:
            self._rows = np.stack(
                [self.algorithm.local_update(t, flat, round_index, self.run) for t in self.trainers]
            )
            self._round = round_index
        return self._rows


def colluders_for(
    attack: AttackConfig,
    run: RunConfig,
    dataset: Dataset,
    algorithm: Algorithm,
    shard_of: Callable[[int], np.ndarray] | None = None,  # a partition table's lookup
) -> Colluders | None:
    """The attackers' honest trainers, when the attack needs them (alie, ipm)."""
    if not attack.colluding:
        return None
    ids = attacker_ids(run.seed, run.num_clients, attack.attackers)
    trainers = [
        LocalTrainer(
            run, i, run.batch_size_for(i), dataset, shard=shard_of(i) if shard_of else None
        )
        for i in ids
    ]
    return Colluders(trainers, algorithm, run)


class Attacker:
    """Client `trainer.client_id`'s rows when it is one of the run's attackers."""

    def __init__(
        self,
        attack: AttackConfig,
        run: RunConfig,
        algorithm: Algorithm,
        trainer: LocalTrainer,
        colluders: Colluders | None,
    ) -> None:
        self.attack, self.run, self.algorithm = attack, run, algorithm
        self.trainer, self.colluders = trainer, colluders

    def update(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """The row this attacker sends for `round_index`."""
        run, attack, client_id = self.run, self.attack, self.trainer.client_id
        if self.colluders is not None:
            stats = self.colluders.updates(flat, round_index)
            honest = stats[0]  # unused by the colluding attacks but for its size
        else:
            stats = None
            honest = self.algorithm.local_update(self.trainer, flat, round_index, run)
        vector = corrupt(
            attack.attack,
            honest,
            scale=attack.attack_scale,
            rng=noise_rng(run.seed, client_id, round_index),
            colluders=stats,
            num_clients=run.num_clients,
            attackers=attack.attackers,
        )
        return self.algorithm.encode_update(vector, client_id, round_index, run)


def is_attacker(attack: AttackConfig, run: RunConfig, client_id: int) -> bool:
    """Whether `client_id` attacks in this run (`attack.attackers` seeded ids)."""
    if attack.attack == "none":
        return False
    if attack.attackers > run.num_clients:
        raise ValueError(f"--attackers {attack.attackers} exceeds --clients {run.num_clients}")
    return client_id in attacker_ids(run.seed, run.num_clients, attack.attackers)


def trainer_for(
    attack: AttackConfig,
    run: RunConfig,
    client_id: int,
    batch_size: int,
    dataset: Dataset,
    **shared: Any,  # LocalTrainer's shard and model, where the caller has them
) -> LocalTrainer:
    """The client's trainer: on flipped labels when it is a label-flipping attacker."""
    flip = attack.attack == "labelflip" and is_attacker(attack, run, client_id)
    return LocalTrainer(run, client_id, batch_size, dataset, flip_labels=flip, **shared)
