"""The asynchronous simulation's state at an update boundary, as a checkpoint.

Besides the model, its version and FedBuff's buffer (server/async_model.py), the
timeline itself: each client's base version and update count, the models the clients
hold (one per distinct base version), and the pending arrivals (time, client). With
them a resumed run pops the same arrivals in the same order and trains the same
minibatches from the same models: it ends at the same bits as an uninterrupted one.
The checkpoint carries the run's settings and timing settings, and one made by other
settings is refused, not resumed.
"""

from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from common.checkpoint import Checkpoint
from common.config import config_json
from server.metrics import MetricsWriter

if TYPE_CHECKING:
    from signfed.async_simulation import AsyncSimulation

MODEL = "model."  # AsyncModel.state_dict's arrays, under this prefix


def _settings(sim: AsyncSimulation) -> dict[str, Any]:
    settings = {"config": config_json(sim.run), **sim.config.timing_record()}
    return json.loads(json.dumps(settings))  # as JSON reads it back: lists, not tuples


def capture_state(
    sim: AsyncSimulation, next_update: int, metrics: MetricsWriter, seconds: float
) -> Checkpoint:
    versions = sorted(set(sim._base))
    held = {v: sim._held[sim._base.index(v)] for v in versions}
    arrays = {MODEL + k: v for k, v in sim.model.state_dict().items()}
    arrays |= {
        "base": np.array(sim._base, dtype=np.int64),
        "updates": np.array(sim._updates, dtype=np.int64),
        "held_versions": np.array(versions, dtype=np.int64),
        "held_models": np.stack([held[v] for v in versions]),
        "arrival_times": np.array([t for t, _ in sim._arrivals], dtype=np.float64),
        "arrival_clients": np.array([c for _, c in sim._arrivals], dtype=np.int64),
    }
    meta = _settings(sim) | {
        "metrics": metrics.totals(),
        "seconds": seconds,
        "delta_bytes": sim._delta_bytes,
        "now": sim.now,
    }
    return Checkpoint(flat=sim.model.flat, round=next_update, arrays=arrays, meta=meta)


def restore_state(sim: AsyncSimulation, ckpt: Checkpoint) -> None:
    """Put a checkpoint's state into a fresh simulation; ValueError (naming what does
    not fit) when it was made by other settings or does not fit this run."""
    ours = _settings(sim)
    differ = [k for k in ours if ckpt.meta.get(k) != ours[k]]
    if differ:
        raise ValueError(
            f"belongs to a run with other settings ({', '.join(differ)}); "
            "resume it with its own settings, or use another --out"
        )
    m, n = sim.run.num_clients, sim.master.num_params
    a = ckpt.arrays
    if not 0 < ckpt.round < sim.run.rounds or ckpt.flat.shape != (n,):
        raise ValueError(f"update {ckpt.round} or model {ckpt.flat.shape} do not fit this run")
    for key in ("base", "updates", "arrival_times", "arrival_clients"):
        if a[key].shape != (m,):
            raise ValueError(f"{key} has shape {a[key].shape}, not ({m},)")
    if sorted(a["arrival_clients"].tolist()) != list(range(m)):
        raise ValueError("the pending arrivals are not one per client")
    models = dict(zip(a["held_versions"].tolist(), a["held_models"], strict=True))
    if a["held_models"].shape[1:] != (n,) or not set(a["base"].tolist()) <= models.keys():
        raise ValueError("the held models do not cover the clients' base versions")
    sim.model.load_state_dict(
        ckpt.flat, {k.removeprefix(MODEL): v for k, v in a.items() if k.startswith(MODEL)}
    )
    sim.master.commit(sim.model.flat, sim.model.version)
    sim._base = a["base"].tolist()
    sim._updates = a["updates"].tolist()
    sim._held = [models[v] for v in sim._base]
    sim._arrivals = list(
        zip(a["arrival_times"].tolist(), a["arrival_clients"].tolist(), strict=True)
    )
    heapq.heapify(sim._arrivals)
    sim._delta_bytes = int(ckpt.meta["delta_bytes"])
    sim.now = float(ckpt.meta["now"])
    sim._seconds_before = float(ckpt.meta["seconds"])
