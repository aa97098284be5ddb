"""`--backend ray`: the clients on Ray actors, on one machine or many (as CollA does).

Each actor reserves one CPU and holds one VirtualClients (a trainer, the dataset, the
partition table): CollA's agent with its dummy model. Per round x^t goes into Ray's
object store once (`ray.put`) and every actor reads it from there; clients go to
whichever actor is free (ActorPool), and the updates come back in the order of `ids`,
so the run is bit-identical to the in-process backend: the same updates, computed
with the same torch thread count, decided in the same order.

Multi-node: `ray start --head` on one machine, `ray start --address HEAD:6379` on the
others, then `signfed simulate --backend ray --ray-address auto` on any of them. Every
node needs signfed installed and the dataset under the same --data-dir.

This module is the only one that imports ray (`pip install signfed[ray]`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np

from client.virtual_clients import VirtualClients
from common.config import ConfigError
from signfed.client_pool import PoolSpec

log = logging.getLogger(__name__)

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read at import: Ray reports nothing
try:
    import ray
    from ray.util import ActorPool
except ImportError:  # pragma: no cover - the message is the test
    ray = None  # type: ignore[assignment]


def check_answers(address: str, timeout: float = 5.0) -> None:
    """ConfigError unless something listens at a HOST:PORT --ray-address: Ray itself
    retries a dead address for minutes before it gives up."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "", "auto", a ray:// client address: Ray's own lookup, which is quick
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers ({error})") from None


class ClientActor:
    """One Ray worker's trainer: the run's clients, made on demand (see VirtualClients)."""

    def __init__(self, spec: PoolSpec) -> None:
        import torch

        torch.set_num_threads(spec.threads)
        self._clients = spec.clients()

    def update(self, flat: np.ndarray, round_index: int, client_id: int) -> bytes:
        # the object store hands out read-only arrays; the trainer copies x^t anyway
        return self._clients.update(flat, round_index, client_id)

    def node(self) -> str:
        """The id of the Ray node this actor runs on."""
        return str(ray.get_runtime_context().get_node_id())


class RayPool:
    def __init__(self, spec: PoolSpec, clients: VirtualClients, workers: int, address: str) -> None:
        if ray is None:
            raise ConfigError("--backend ray needs Ray: pip install 'signfed[ray]'")
        self.client_ids = clients.client_ids
        self.weights = clients.weights
        self.steps_per_update = clients.steps_per_update
        self._started = not ray.is_initialized()
        if self._started:
            # empty: a Ray of this machine's cores; else join the cluster at `address`
            check_answers(address)
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ConfigError(f"--ray-address {address!r}: {error}") from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        count = workers or cpus
        if not 1 <= count <= cpus:  # an actor Ray cannot place would wait forever
            self.close()
            raise ConfigError(f"--workers {count}: the Ray cluster offers {cpus} CPUs")
        self.actors: list[Any] = []
        remote: Any = ray.remote(num_cpus=1)(ClientActor)
        self.actors = [remote.remote(spec) for _ in range(count)]
        self._pool = ActorPool(self.actors)
        log.info("ray: %d actors on %d nodes", count, len(self.nodes()))

    def nodes(self) -> set[str]:
        """The Ray nodes the actors run on."""
        return set(ray.get([actor.node.remote() for actor in self.actors]))

    def updates(self, flat: np.ndarray, round_index: int, ids: Sequence[int]) -> list[bytes]:
        model = ray.put(flat)  # once per round, shared by every actor
        work = [int(i) for i in ids]
        return list(self._pool.map(lambda a, i: a.update.remote(model, round_index, i), work))

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            ray.kill(actor)
        if self._started:
            ray.shutdown()
