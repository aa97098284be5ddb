"""The server's state in <out>/checkpoint.npz: written every K rounds and at SIGTERM,
read back by `signfed server --resume DIR`.

A checkpoint is taken at a round boundary t and holds:
- the model x^t and t, the next round to run;
- the aggregator's statistics (the LLR disagreement counters and round counts);
- the members (client id, name, batch size): clients that join again under their
  name get their old id, and with it their LLR record;
- the metrics totals and the seconds spent, so summary.json covers the whole run;
- the run configuration: a checkpoint is never resumed under other settings.

No random state needs saving: every coin (ties, zero gradients) and every minibatch is
a pure function of (seed, client, round), so the rounds replayed after a crash decide
exactly as they did, and the resumed run ends at the same model, bit for bit.
The file is replaced atomically (common/checkpoint.py): a kill -9 during a write
leaves the previous checkpoint whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from common.config import (
    ConfigError,
    RunConfig,
    config_differences,
    config_json,
    run_config_from_json,
)

CHECKPOINT = "checkpoint.npz"
_AGGREGATOR = "aggregator."  # array-name prefix of the aggregator's statistics


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


def save_server_state(out_dir: str | Path, run: RunConfig, state: ServerState) -> Path:
    path = checkpoint_path(out_dir)
    arrays = {_AGGREGATOR + name: array for name, array in state.aggregator.items()}
    meta = {
        "config": config_json(run),
        "members": state.members,
        "metrics": state.metrics,
        "seconds": state.seconds,
    }
    save_checkpoint(path, Checkpoint(flat=state.flat, round=state.round, arrays=arrays, meta=meta))
    return path


def _load(out_dir: str | Path) -> Checkpoint:
    path = checkpoint_path(out_dir)
    if not path.exists():
        raise ConfigError(
            f"--resume {out_dir}: no {CHECKPOINT} there (the run finished, or it never "
            "reached a checkpoint); start a fresh run without --resume"
        )
    try:
        return load_checkpoint(path)
    except ValueError as exc:
        raise ConfigError(f"--resume {out_dir}: {exc}") from None


def load_server_state(out_dir: str | Path, run: RunConfig) -> ServerState:
    """The state checkpointed in out_dir for this very run; ConfigError otherwise."""
    ckpt = _load(out_dir)
    theirs = run_config_from_json(ckpt.meta["config"])
    differ = config_differences(run, theirs)
    if differ:
        raise ConfigError(
            f"{checkpoint_path(out_dir)} belongs to a run with other settings "
            f"({', '.join(differ)}); resume it with its own settings"
        )
    n = len(_AGGREGATOR)
    return ServerState(
        flat=np.asarray(ckpt.flat, np.float32),
        round=ckpt.round,
        aggregator={k[n:]: v for k, v in ckpt.arrays.items() if k.startswith(_AGGREGATOR)},
        members=list(ckpt.meta["members"]),
        metrics=dict(ckpt.meta["metrics"]),
        seconds=float(ckpt.meta["seconds"]),
    )


def resumed_run(out_dir: str | Path, given: RunConfig, defaults: RunConfig) -> RunConfig:
    """The run settings for `--resume out_dir`: the checkpoint's own. Settings given on
    the command line must match them; left at their defaults, they are not needed."""
    theirs = run_config_from_json(_load(out_dir).meta["config"])
    if given == defaults or not config_differences(given, theirs):
        return theirs
    differ = config_differences(given, theirs)
    raise ConfigError(
        f"--resume {out_dir}: the checkpoint was made with other settings "
        f"({', '.join(differ)}); drop those flags or give the checkpoint's values"
    )


def refuse_stale(out_dir: str | Path) -> None:
    """A fresh run must not overwrite an unfinished run's checkpoint: that would lose it."""
    path = checkpoint_path(out_dir)
    if path.exists():
        raise ConfigError(
            f"{path} holds an unfinished run: pass --resume {out_dir} to continue it, "
            "or choose another --out (or delete the checkpoint) to start afresh"
        )


@dataclass(frozen=True)
class Checkpointing:
    """The coordinator's checkpoint policy: where, how often, and who the members are."""

    out_dir: str
    every: int  # rounds between checkpoints; 0: only when asked (SIGTERM)
    members: Callable[[], list[dict[str, Any]]]  # Membership.snapshot

    def due(self, next_round: int) -> bool:
        return self.every > 0 and next_round % self.every == 0
