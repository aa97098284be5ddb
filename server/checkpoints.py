"""The server's state in <out>/checkpoint.npz: written every K rounds and at SIGTERM,
read back by `signfed server --resume DIR`.

A checkpoint is taken at a round boundary t and holds:
- the model x^t and t, the next round to run;
- the aggregator's statistics (the LLR disagreement counters and round counts);
- the members (client id, name, batch size): clients that join again under their
  name get their old id, and with it their LLR record;
- the metrics totals and the seconds spent, so summary.json covers the whole run;
- the run configuration: a checkpoint is never resumed under other settings;
- how the server served (server/settings.py): host, port, deadline, wire limits... and
  which security mechanisms guarded the run (fingerprints, never secrets).

No random state needs saving: every coin (ties, zero gradients) and every minibatch is
a pure function of (seed, client, round), so the rounds replayed after a crash decide
exactly as they did, and the resumed run ends at the same model, bit for bit.
The file is replaced atomically and durably (common/checkpoint.py): a kill -9 or a power
cut during a write leaves the previous checkpoint whole. Reading one back checks every
field first (server/checkpoint_checks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.async_config import AsyncConfig
from common.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from common.config import (
    ConfigError,
    RunConfig,
    config_differences,
    config_json,
    run_config_from_json,
)
from server.checkpoint_checks import AGGREGATOR, check_state

CHECKPOINT = "checkpoint.npz"


@dataclass(frozen=True)
class ServerState:
    flat: np.ndarray  # (N,) float32, the model x^round
    round: int  # the next round to run
    aggregator: dict[str, np.ndarray]
    members: list[dict[str, Any]]  # Membership.snapshot()
    metrics: dict[str, Any]  # MetricsWriter.totals()
    seconds: float  # training time before this checkpoint


def checkpoint_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / CHECKPOINT


def save_server_state(
    out_dir: str | Path,
    run: RunConfig,
    state: ServerState,
    serving: dict[str, Any] | None = None,
    asynchrony: AsyncConfig | None = None,
) -> Path:
    """Write the checkpoint; `serving` (server/settings.py) records how the server served,
    `asynchrony` an asynchronous run's settings (its `aggregator` is then the AsyncModel's)."""
    path = checkpoint_path(out_dir)
    arrays = {AGGREGATOR + name: array for name, array in state.aggregator.items()}
    meta = {
        "config": config_json(run),
        "members": state.members,
        "metrics": state.metrics,
        "seconds": state.seconds,
    }
    if serving is not None:
        meta["server"] = serving
    if asynchrony is not None and asynchrony.enabled:
        meta["asynchrony"] = asdict(asynchrony)
    save_checkpoint(path, Checkpoint(flat=state.flat, round=state.round, arrays=arrays, meta=meta))
    return path


def read_checkpoint(out_dir: str | Path) -> tuple[Checkpoint, RunConfig]:
    """The checkpoint for `--resume out_dir` and its run settings; ConfigError otherwise."""
    path = checkpoint_path(out_dir)
    if not path.exists():
        raise ConfigError(
            f"--resume {out_dir}: no {CHECKPOINT} there (the run finished, or it never "
            "reached a checkpoint); start a fresh run without --resume"
        )
    try:
        ckpt = load_checkpoint(path)
    except ValueError as exc:
        raise ConfigError(f"--resume {out_dir}: {exc}") from None
    try:
        run = run_config_from_json(ckpt.meta["config"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"--resume {out_dir}: {path}: config is not a run configuration ({exc})"
        ) from None
    return ckpt, run


def load_server_state(
    out_dir: str | Path, run: RunConfig, num_params: int, asynchrony: AsyncConfig | None = None
) -> ServerState:
    """The state checkpointed in out_dir for this very run (a model of `num_params`;
    asynchronous with `asynchrony`'s settings), every field checked; ConfigError
    otherwise, before anything on disk is touched."""
    ckpt, theirs = read_checkpoint(out_dir)
    differ = config_differences(run, theirs)
    if differ:
        raise ConfigError(
            f"{checkpoint_path(out_dir)} belongs to a run with other settings "
            f"({', '.join(differ)}); resume it with its own settings, or use another --out"
        )
    check_state(checkpoint_path(out_dir), ckpt, run, num_params, asynchrony or AsyncConfig())
    n = len(AGGREGATOR)
    return ServerState(
        flat=ckpt.flat,
        round=ckpt.round,
        aggregator={k[n:]: v for k, v in ckpt.arrays.items()},
        members=list(ckpt.meta["members"]),
        metrics=dict(ckpt.meta["metrics"]),
        seconds=float(ckpt.meta["seconds"]),
    )


@dataclass(frozen=True)
class Checkpointing:
    """The coordinator's checkpoint policy: where, how often, and who the members are."""

    out_dir: str
    every: int  # rounds (async: updates) between checkpoints; 0: only when asked (SIGTERM)
    members: Callable[[], list[dict[str, Any]]]  # Membership.snapshot
    serving: dict[str, Any] | None = None  # server/settings.py: how this server serves
    asynchrony: AsyncConfig | None = None  # an asynchronous run's settings

    def due(self, next_round: int) -> bool:
        return self.every > 0 and next_round % self.every == 0
