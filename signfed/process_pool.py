"""`--backend process`: the clients in a pool of worker processes on this machine.

Each worker rebuilds the run's VirtualClients once (its own dataset, the cached
partition table, one model) and sets the torch thread count the in-process run uses,
so a client's update is the same bits whichever process computes it. x^t travels once
per round through shared memory, not once per client through a pipe; a worker reads
it when it starts an update, and the parent writes the next round's only after
`map` has returned every update of this one. Clients go to whichever worker is free
(one slow client does not hold a queue of others), and `map` returns the updates in
the order of `ids`. A worker that dies fails the round (BrokenProcessPool) instead of
leaving it waiting for an update that will never come.

Workers start by "spawn": a forked child of a process whose torch thread pools already
run can deadlock in them.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import torch

from client.virtual_clients import VirtualClients
from signfed.client_pool import PoolSpec

_worker: dict[str, Any] = {}  # in a worker: its clients and its view of x^t


def _start(spec: PoolSpec, memory_name: str, num_params: int) -> None:
    torch.set_num_threads(spec.threads)
    memory = shared_memory.SharedMemory(name=memory_name)
    _worker["memory"] = memory  # kept: the view below lives in its buffer
    _worker["flat"] = np.ndarray((num_params,), np.float32, buffer=memory.buf)
    _worker["clients"] = spec.clients()


def _update(task: tuple[int, int]) -> bytes:
    round_index, client_id = task
    clients: VirtualClients = _worker["clients"]
    return clients.update(_worker["flat"], round_index, client_id)


class ProcessPool:
    def __init__(self, spec: PoolSpec, clients: VirtualClients, workers: int) -> None:
        self.client_ids = clients.client_ids
        self.weights = clients.weights
        self.steps_per_update = clients.steps_per_update
        self.workers = workers
        num_params = sum(p.numel() for p in clients.model.parameters())
        self._memory = shared_memory.SharedMemory(create=True, size=4 * num_params)
        self._flat = np.ndarray((num_params,), np.float32, buffer=self._memory.buf)
        self._pool = ProcessPoolExecutor(
            workers,
            mp.get_context("spawn"),
            initializer=_start,
            initargs=(spec, self._memory.name, num_params),
        )

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        self._flat[:] = flat
        return list(self._pool.map(_update, [(round_index, i) for i in ids]))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        del self._flat  # release the buffer before the segment closes
        self._memory.close()
        self._memory.unlink()
