"""Where a simulation's clients run: the seam between the round loop and the clients.

A pool computes the updates of the clients drawn for round t from x^t and returns the
payloads as they would travel (encoded by the run's update codec), in client id order.
Three backends (signfed/pool_config.py), one result:

- inprocess: the clients one after another in this process;
- process: a pool of worker processes on this machine (signfed/process_pool.py);
- ray: actors on a Ray cluster of one or many machines (signfed/ray_pool.py).

Each worker of each backend holds one `VirtualClients` (client/virtual_clients.py),
rebuilt from a `PoolSpec`; an update is a function of (run, client, round, x^t) alone,
computed with the same torch thread count everywhere, so which worker computes it
changes no bit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from client.virtual_clients import VirtualClients
from common.attack_config import AttackConfig
from common.config import RunConfig
from common.data import Dataset, load_dataset
from common.shards import client_shards
from signfed import plugins
from signfed.pool_config import PoolConfig


class ClientPool(Protocol):
    client_ids: list[int]  # every client of the run
    weights: np.ndarray  # (M,) the weight of each client's row (the examples behind it)
    steps_per_update: list[int]  # the SGD steps behind each client's row (a virtual clock's)

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        """The encoded updates of clients `ids` (ascending) for `round_index` at x^t."""
        ...

    def close(self) -> None: ...


def partition_cache(data_dir: str | Path) -> Path:
    """Where partition tables are kept between runs (common/shards.py)."""
    return Path(data_dir) / "partitions"


@dataclass(frozen=True)
class PoolSpec:
    """What a worker needs to rebuild the run's clients (picklable: it travels)."""

    run: RunConfig
    attack: AttackConfig
    data_dir: str
    threads: int  # torch threads per worker: the count the in-process run uses
    # --plugin files this process loaded: a worker loads them before it builds anything
    plugins: tuple[str, ...] = field(default_factory=plugins.loaded)

    def clients(self, dataset: Dataset | None = None) -> VirtualClients:
        plugins.load(self.plugins)  # a no-op where they are loaded already
        run = self.run
        dataset = dataset or load_dataset(run.dataset, self.data_dir, seed=run.seed)
        labels = dataset.train_y.numpy()
        shards = client_shards(run, labels, partition_cache(self.data_dir), run.dataset)
        return VirtualClients(run, dataset, shards, self.attack)


class InProcessPool:
    """The clients in this process, in id order."""

    def __init__(self, clients: VirtualClients) -> None:
        self.clients = clients
        self.client_ids = clients.client_ids
        self.weights = clients.weights
        self.steps_per_update = clients.steps_per_update

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        return [self.clients.update(flat, round_index, i) for i in ids]

    def close(self) -> None:
        """Nothing to release in-process."""


def worker_count(workers: int) -> int:
    """--workers, or one per core this process may use."""
    return workers or len(os.sched_getaffinity(0))


def make_pool(spec: PoolSpec, config: PoolConfig, dataset: Dataset) -> ClientPool:
    """The backend `config` names, its clients rebuilt from `spec` (this process's from
    `dataset`: the row weights and steps every backend reports come from them)."""
    clients = spec.clients(dataset)
    if config.backend == "process":
        from signfed.process_pool import ProcessPool  # multiprocessing only when asked

        return ProcessPool(spec, clients, worker_count(config.workers))
    if config.backend == "ray":
        from signfed.ray_pool import RayPool  # the optional extra: imported only here

        return RayPool(spec, clients, config.workers, config.ray_address)
    return InProcessPool(clients)
