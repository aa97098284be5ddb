"""Where a simulation's clients run: the seam between the round loop and the clients.

A pool computes every client's update for round t from x^t and returns the payloads
as they would travel (encoded by the run's update codec), in client id order. Today's
pool runs the clients one after another in this process; a process pool or Ray actors
(many virtual clients) implement the same two methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from client.trainer import LocalTrainer
from common.algorithms import Algorithm
from common.codecs import Codec
from common.config import RunConfig
from common.data import Dataset


class ClientPool(Protocol):
    client_ids: list[int]
    batch_sizes: np.ndarray  # (M,) the examples behind each client's update

    def updates(self, flat: np.ndarray, round_index: int) -> list[bytes]:
        """Every client's encoded update for `round_index` at x^t = `flat`."""
        ...

    def close(self) -> None: ...


class InProcessPool:
    """The clients as LocalTrainers in this process, run in id order."""

    def __init__(
        self, run: RunConfig, dataset: Dataset, algorithm: Algorithm, codec: Codec
    ) -> None:
        self.run = run
        self.algorithm = algorithm
        self.codec = codec
        self.trainers = [
            LocalTrainer(run, i, run.batch_size_for(i), dataset) for i in range(run.num_clients)
        ]
        self.client_ids = list(range(run.num_clients))
        self.batch_sizes = np.array([t.batch_size for t in self.trainers], dtype=np.float64)

    def updates(self, flat: np.ndarray, round_index: int) -> list[bytes]:
        return [
            self.codec.encode(self.algorithm.client_update(trainer, flat, round_index, self.run))
            for trainer in self.trainers
        ]

    def close(self) -> None:
        """Nothing to release in-process."""
