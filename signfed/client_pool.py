"""Where a simulation's clients run: the seam between the round loop and the clients.

A pool computes the updates of the clients drawn for round t from x^t and returns the
payloads as they would travel (encoded by the run's update codec), in client id order.
Today's pool runs the clients one after another in this process; a process pool or Ray
actors (many virtual clients) implement the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from client.attacker import Attacker, colluders_for, is_attacker, trainer_for
from common.algorithms import Algorithm
from common.attack_config import AttackConfig
from common.codecs import Codec
from common.config import RunConfig
from common.data import Dataset


class ClientPool(Protocol):
    client_ids: list[int]  # every client of the run
    weights: np.ndarray  # (M,) the weight of each client's row (the examples behind it)
    steps_per_update: list[int]  # the SGD steps behind each client's row (a virtual clock's)

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        """The encoded updates of clients `ids` (ascending) for `round_index` at x^t."""
        ...

    def close(self) -> None: ...


class InProcessPool:
    """The clients as LocalTrainers in this process, run in id order."""

    def __init__(
        self,
        run: RunConfig,
        dataset: Dataset,
        algorithm: Algorithm,
        codec: Codec,
        attack: AttackConfig | None = None,
    ) -> None:
        attack = attack or AttackConfig()
        self.run = run
        self.algorithm = algorithm
        self.codec = codec
        self.trainers = [
            trainer_for(attack, run, i, run.batch_size_for(i), dataset)
            for i in range(run.num_clients)
        ]
        self.client_ids = list(range(run.num_clients))
        self.weights = np.array(
            [algorithm.row_weight(t.batch_size, t.num_examples) for t in self.trainers],
            dtype=np.float64,
        )
        local = algorithm.local_training  # else one minibatch gradient per update
        self.steps_per_update = [t.steps_per_update if local else 1 for t in self.trainers]
        colluders = colluders_for(attack, run, dataset, algorithm)  # shared by the attackers
        self.attackers = {
            i: Attacker(attack, run, algorithm, self.trainers[i], colluders)
            for i in self.client_ids
            if is_attacker(attack, run, i)
        }

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        rows = []
        for i in ids:
            attacker = self.attackers.get(i)
            if attacker is not None:
                rows.append(attacker.update(flat, round_index))
            else:
                trainer = self.trainers[i]
                rows.append(self.algorithm.client_update(trainer, flat, round_index, self.run))
        return [self.codec.encode(row) for row in rows]

    def close(self) -> None:
        """Nothing to release in-process."""
