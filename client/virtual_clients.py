"""Many clients in one process: each is its identity and its data indices until it trains.

A simulation of 10,000 clients cannot hold 10,000 models (the MNIST Net is 2.3 MB of
float32, so 23 GB). `VirtualClients` holds one model and the run's partition table; the
trainer of client i is made when i is drawn, around that shared model, and dropped
after its update. That is bit for bit what a client with its own model computes: every
update starts with set_flat, and nothing else in a model carries over between rounds
(see client/trainer.py). The in-process pool, every process-pool worker and every Ray
actor (signfed/client_pool.py and its siblings) each hold one VirtualClients.

Attackers are made the same way; colluding attackers (alie, ipm) share one `Colluders`
that keeps its F trainers, as a networked attacker does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from client.attacker import Attacker, colluders_for, trainer_for
from client.trainer import LocalTrainer, local_steps
from common.algorithms import get_algorithm
from common.attack_config import AttackConfig
from common.attacks import attacker_ids
from common.config import RunConfig
from common.data import Dataset
from common.models import build_model
from common.params import model_layout


class ShardTable(Protocol):
    """Which examples each client holds (common/shards.py builds it once per run)."""

    @property
    def sizes(self) -> np.ndarray:  # (M,) int64: the examples of each client
        ...

    def indices(self, client_id: int) -> np.ndarray: ...


class VirtualClients:
    """The run's M clients: ids, row weights and steps from the table, trainers on demand."""

    def __init__(
        self,
        run: RunConfig,
        dataset: Dataset,
        shards: ShardTable,
        attack: AttackConfig | None = None,
    ) -> None:
        self.run, self.dataset, self.shards = run, dataset, shards
        self.attack = attack or AttackConfig()
        self.model = build_model(run.model, dataset.input_shape, dataset.num_classes, run.seed)
        self.algorithm = algorithm = get_algorithm(run.aggregator.algorithm)
        # the update codec the server's engine resolves from the same model's layout
        self.codec = algorithm.encodings(run, model_layout(self.model))[0]
        self.client_ids = list(range(run.num_clients))
        batches = [run.batch_size_for(i) for i in self.client_ids]
        sizes = [int(n) for n in shards.sizes]
        self.weights = np.array(
            [algorithm.row_weight(b, n) for b, n in zip(batches, sizes, strict=True)],
            dtype=np.float64,
        )
        # one minibatch gradient per update unless the algorithm trains locally
        self.steps_per_update = [
            local_steps(run, n, b) if algorithm.local_training else 1
            for b, n in zip(batches, sizes, strict=True)
        ]
        none = self.attack.attack == "none"
        self.attackers = set() if none else set(self._attacker_ids())
        self._colluders = colluders_for(
            self.attack, run, dataset, algorithm, shard_of=shards.indices
        )

    def _attacker_ids(self) -> Sequence[int]:
        return attacker_ids(self.run.seed, self.run.num_clients, self.attack.attackers)

    def trainer(self, client_id: int) -> LocalTrainer:
        """Client `client_id`'s trainer around the shared model (an attacker's own data)."""
        run = self.run
        return trainer_for(
            self.attack,
            run,
            client_id,
            run.batch_size_for(client_id),
            self.dataset,
            shard=self.shards.indices(client_id),
            model=self.model,
        )

    def update(self, flat: np.ndarray, round_index: int, client_id: int) -> bytes:
        """Client `client_id`'s update for `round_index` at x^t, encoded as it travels."""
        trainer = self.trainer(client_id)
        if client_id in self.attackers:
            attacker = Attacker(self.attack, self.run, self.algorithm, trainer, self._colluders)
            row = attacker.update(flat, round_index)
        else:
            row = self.algorithm.client_update(trainer, flat, round_index, self.run)
        return self.codec.encode(row)

    def trainers(self) -> list[LocalTrainer]:
        """Every client's trainer, all around the one model: for a few clients (benchmarks
        that probe each one in turn)."""
        return [self.trainer(i) for i in self.client_ids]
