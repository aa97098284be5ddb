"""`signfed simulate --async fedasync|fedbuff`: clients training at their own pace, on a
virtual clock, every update applied as it arrives (server/async_model.py).

Every client starts at time 0 from version 0. When one finishes (signfed/clock.py says
when), the server receives its result, applies it, buffers it or refuses it as too
stale, and the client at once fetches the current model and starts its next update.
Arrivals are taken in (virtual time, client id) order, and a client's k-th update draws
its minibatches from (seed, client, k): the run is a function of its settings, bit for
bit. `--rounds` counts the updates the server receives; metrics.jsonl has one record per
update: who sent it, the version it was trained from, its staleness, what became of it,
the virtual time, the bytes of the model download that follows it (the full float32
model, and the exact delta from the version the client held: common/model_delta.py),
and (every --eval-every updates) the accuracy of the current model.

A checkpoint every --checkpoint-every updates holds the whole timeline
(signfed/async_checkpoint.py): the same command resumes it to the same bits. Not yet
here: attacks, and the networked server of the same mode.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from client.trainer import local_steps
from common.checkpoint import load_checkpoint, save_checkpoint
from common.config import ConfigError
from common.data import Dataset, load_dataset
from common.model_delta import xor_delta
from server.async_model import APPLIED, AsyncModel
from server.checkpoints import checkpoint_path
from server.master import MasterModel
from server.metrics import MetricsWriter
from server.run_dir import RUN_FILES
from signfed.async_checkpoint import capture_state, restore_state
from signfed.client_pool import PoolSpec
from signfed.clock import VirtualClock
from signfed.progress import Progress
from signfed.simulation_config import SimulationConfig

log = logging.getLogger(__name__)


class AsyncSimulation:
    def __init__(self, config: SimulationConfig, dataset: Dataset | None = None) -> None:
        run = config.run
        self.config = config
        self.run = run
        self.out = Path(config.out_dir)
        self.dataset = dataset or load_dataset(run.dataset, config.data_dir, seed=run.seed)
        self.master = MasterModel(run, self.dataset)
        # identities and shards; a trainer is made when its client trains (many clients)
        spec = PoolSpec(run, config.attack, config.data_dir, config.threads)
        self.clients = spec.clients(self.dataset)
        self.model = AsyncModel(config.asynchrony, run.aggregator.server_lr, self.master.flat)
        steps = [
            local_steps(run, int(n), run.batch_size_for(i))
            for i, n in enumerate(self.clients.shards.sizes)
        ]
        self.clock = VirtualClock(config.clock, run.seed, steps)
        self.model_bytes = 4 * self.master.num_params  # a float32 vector, up or down
        # per client: the version it trains from, that model, its update count
        self._base: list[int] = [0] * run.num_clients
        self._held: list[np.ndarray] = [self.model.flat] * run.num_clients
        self._updates: list[int] = [0] * run.num_clients
        self._arrivals: list[tuple[float, int]] = []  # heap of (finish time, client)
        self._delta_bytes = 0  # every download after an update, as exact deltas
        self.now = 0.0  # virtual time of the last update received
        self._seconds_before = 0.0  # wall seconds before a checkpoint this run resumed

    def _start(self, client: int, now: float) -> int:
        """The client fetches the current model and starts an update. Returns the bytes
        of that download as a delta from the model it held (common/model_delta.py)."""
        delta = 0
        if self._base[client] != self.model.version:  # else nothing changed: 0 bytes
            delta = len(xor_delta(self._held[client], self.model.flat))
        self._base[client] = self.model.version
        self._held[client] = self.model.flat
        k = self._updates[client]
        heapq.heappush(self._arrivals, (now + self.clock.duration(client, k), client))
        return delta

    def _result(self, client: int) -> np.ndarray:
        k = self._updates[client]
        self._updates[client] += 1
        return self.result_of(client, self._held[client], k)

    def result_of(self, client: int, base: np.ndarray, k: int) -> np.ndarray:
        """What the client sends for its k-th update trained from `base`: its local model
        (fedasync) or delta (fedbuff)."""
        trainer = self.clients.trainer(client)
        if self.config.asynchrony.mode == "fedasync":
            return trainer.local_model(base, k)
        return trainer.local_delta(base, k)

    def step(self, n: int) -> dict[str, Any]:
        """The server receives update number n: the earliest to finish."""
        now, client = heapq.heappop(self._arrivals)
        self.now = now
        base, k = self._base[client], self._updates[client]
        arrival = self.model.receive(client, base, self._result(client))
        if arrival.status == APPLIED:
            self.master.commit(self.model.flat, self.model.version)
        delta = self._start(client, now)  # it downloads the current model
        self._delta_bytes += delta
        record: dict[str, Any] = {
            "round": n,
            "virtual_seconds": round(now, 6),
            "client": client,
            "update": k,
            "base_version": base,
            "staleness": arrival.staleness,
            "status": arrival.status,
            "version": arrival.version,
            "weight": round(arrival.weight, 9),
            "clients": 1,
            "bytes_up": self.model_bytes,
            "bytes_down": self.model_bytes,  # the full model
            "bytes_down_delta": delta,  # the same download as an exact delta
        }
        if (n + 1) % self.run.eval_every == 0 or n + 1 == self.run.rounds:
            accuracy, loss = self.master.evaluate(self.model.flat)
            record["accuracy"] = round(accuracy, 6)
            record["loss"] = round(loss, 6)
        return record

    def run_all(self, progress: Progress | None = None) -> dict[str, Any]:
        """All --rounds updates (or those after a checkpoint of this very run); returns
        what summary.json holds."""
        first, metrics = self._open()
        started = time.perf_counter() - self._seconds_before
        every = self.config.checkpoint_every
        try:
            for n in range(first, self.run.rounds):
                record = self.step(n)
                record["seconds"] = round(time.perf_counter() - started, 4)
                if n == 0:  # every client's first download
                    record["bytes_down"] += self.model_bytes * self.run.num_clients
                metrics.round(record, num_params=self.master.num_params)
                if progress is not None:
                    progress.add(record)
                if every and (n + 1) % every == 0 and n + 1 < self.run.rounds:
                    self._save(n + 1, metrics, time.perf_counter() - started)
            summary = metrics.summary(self.summary(time.perf_counter() - started))
        finally:
            metrics.close()
        checkpoint_path(self.out).unlink(missing_ok=True)
        return summary

    # ---- checkpoints: the whole timeline, so a resumed run takes the same arrivals -----

    def _open(self) -> tuple[int, MetricsWriter]:
        """(first update to receive, metrics writer): resumed from a checkpoint of this
        very run, or fresh with stale outputs removed."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = checkpoint_path(self.out)
        if not path.exists():
            for stale in RUN_FILES:  # no checkpoint: nothing here belongs to this run
                (self.out / stale).unlink(missing_ok=True)
            for client in range(self.run.num_clients):
                self._start(client, 0.0)
            return 0, MetricsWriter(self.out)
        try:
            ckpt = load_checkpoint(path)
            restore_state(self, ckpt)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        log.info("resuming %s at update %d", self.out, ckpt.round)
        return ckpt.round, MetricsWriter.resumed(self.out, ckpt.meta["metrics"], ckpt.round)

    def _save(self, next_update: int, metrics: MetricsWriter, seconds: float) -> None:
        save_checkpoint(
            checkpoint_path(self.out), capture_state(self, next_update, metrics, seconds)
        )

    def summary(self, wall_seconds: float) -> dict[str, Any]:
        return {
            "runner": "simulate",
            "rounds": self.run.rounds,
            "algorithm": self.run.aggregator.algorithm,
            **self.config.timing_record(),
            "versions": self.model.version,
            # the downloads after updates: full models are bytes_down's; as deltas, this
            "bytes_down_delta": self._delta_bytes,
            "virtual_seconds": round(self.now, 6),  # when the last update arrived
            "num_params": self.master.num_params,
            "model_digest": self.master.digest.hex(),
            "error": None,
            "config": asdict(self.run),
            "wall_seconds": round(wall_seconds, 3),
            "attack": None,
        }
