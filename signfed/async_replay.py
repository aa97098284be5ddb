"""Replay an asynchronous run's order of updates in the simulation.

An asynchronous run's bits depend on the order in which the server received updates,
and a networked server's order is the network's. Each record of its metrics.jsonl says
who sent update n, which of its updates it was (k: its minibatches are a function of
(seed, client, k)) and which version it was trained from; this module receives the same
updates in the same order, trains each from that version, and so ends at the same
model, bit for bit, whatever produced the order (a networked run, or a simulation on its
virtual clock: tests/unit/test_async_simulation.py checks the latter).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.config import ConfigError
from server.async_model import AsyncModel
from server.metrics import MetricsWriter
from server.run_dir import RUN_FILES
from signfed.async_simulation import AsyncSimulation
from signfed.progress import Progress
from signfed.simulation_config import SimulationConfig


@dataclass(frozen=True)
class Received:
    """One update as the recorded run received it, and what became of it there."""

    client: int
    update: int
    base_version: int
    status: str


def read_order(path: str | Path, num_clients: int, updates: int) -> list[Received]:
    """The first `updates` updates recorded in a metrics.jsonl; ConfigError naming the
    line when it is not an asynchronous run's record of this many clients."""
    order: list[Received] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--replay {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines[:updates], start=1):
        try:
            r = json.loads(line)
            got = Received(int(r["client"]), int(r["update"]), int(r["base_version"]), r["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"--replay {path}: line {number} is not an asynchronous run's record ({exc})"
            ) from None
        if not 0 <= got.client < num_clients:
            raise ConfigError(f"--replay {path}: line {number}: no client {got.client}")
        order.append(got)
    if len(order) < updates:
        raise ConfigError(f"--replay {path} records {len(order)} updates; --rounds is {updates}")
    return order


def replay(sim: AsyncSimulation, order: list[Received]) -> dict[str, Any]:
    """Receive `order`'s updates into `sim`'s model; writes the run's metrics.jsonl and
    summary.json as a simulated run does (without virtual times) and returns the summary.
    ConfigError if an update's fate differs from the recorded one."""
    model: AsyncModel = sim.model
    needed: dict[int, int] = {}  # version -> how many updates are still to train from it
    for r in order:
        needed[r.base_version] = needed.get(r.base_version, 0) + 1
    versions: dict[int, np.ndarray] = {0: model.flat}
    sim.out.mkdir(parents=True, exist_ok=True)
    for stale in RUN_FILES:  # a fresh run: nothing here belongs to it
        (sim.out / stale).unlink(missing_ok=True)
    metrics = MetricsWriter(sim.out)
    started = time.perf_counter()
    try:
        for n, r in enumerate(order):
            base = versions.get(r.base_version)
            if base is None:
                raise ConfigError(f"update {n} was trained from version {r.base_version}, "
                                  f"which this replay has not reached")  # fmt: skip
            row = sim.result_of(r.client, base, r.update)
            arrival = model.receive(r.client, r.base_version, row)
            if arrival.status != r.status:
                raise ConfigError(
                    f"update {n} was {r.status} in the recorded run and {arrival.status} here: "
                    "replay it with that run's settings"
                )
            needed[r.base_version] -= 1
            if not needed[r.base_version]:
                del versions[r.base_version]  # no later update trains from it
            if needed.get(model.version) and model.version not in versions:
                versions[model.version] = model.flat
            sim.master.commit(model.flat, model.version)
            record = {
                "round": n, "client": r.client, "update": r.update,
                "base_version": r.base_version, "staleness": arrival.staleness,
                "status": arrival.status, "version": arrival.version,
                "weight": round(arrival.weight, 9), "clients": 1,
                "bytes_up": sim.model_bytes, "bytes_down": sim.model_bytes,
                "seconds": round(time.perf_counter() - started, 4),
            }  # fmt: skip
            if (n + 1) % sim.run.eval_every == 0 or n + 1 == len(order):
                accuracy, loss = sim.master.evaluate(model.flat)
                record |= {"accuracy": round(accuracy, 6), "loss": round(loss, 6)}
            metrics.round(record, num_params=sim.master.num_params)
        return metrics.summary(sim.summary(time.perf_counter() - started) | {"replayed": True})
    finally:
        metrics.close()


def run_async(config: SimulationConfig, progress: Progress | None = None) -> dict[str, Any]:
    """`signfed simulate --async`: on the virtual clock, or in --replay's order."""
    sim = AsyncSimulation(config)
    if not config.replay:
        return sim.run_all(progress)
    return replay(sim, read_order(config.replay, config.run.num_clients, config.run.rounds))
