"""One run per run directory (--out): a fresh run never mixes with an earlier one's files.

Rerunning into the same --out used to append to the old metrics.jsonl (every round
twice) and leave the old run's files beside the new ones. Now a fresh run refuses a
directory that holds an earlier run, and `--overwrite` removes that run's files first:

- checkpoint.npz: an unfinished run; `signfed server --resume DIR` continues it;
- summary.json: a finished (or failed) run;
- a non-empty metrics.jsonl: a run that closed at least one round;
- for `signfed local`, its process logs too (server.log, client-*.log).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from common.atomic import fsync_directory
from common.config import ConfigError

log = logging.getLogger(__name__)

# accuracy.png: the curve `signfed local` and `simulate` draw at the end (signfed/run_end.py)
RUN_FILES = ("metrics.jsonl", "summary.json", "checkpoint.npz", "server.port", "accuracy.png")
LOCAL_LOGS = ("server.log", "client-*.log")  # what `signfed local` adds to a run


def earlier_run_files(out_dir: str | Path, logs: Iterable[str] = ()) -> list[Path]:
    """Every file an earlier run left in `out_dir` (logs: glob patterns), sorted."""
    out = Path(out_dir)
    found = {p for name in RUN_FILES if (p := out / name).is_file()}
    found |= {p for pattern in logs for p in out.glob(pattern) if p.is_file()}
    return sorted(found)


def start_fresh(out_dir: str | Path, *, overwrite: bool, logs: Iterable[str] = ()) -> None:
    """Make `out_dir` ready for a fresh run: ConfigError when it holds an earlier run,
    unless `overwrite`, which removes that run's files first."""
    out, logs = Path(out_dir), tuple(logs)
    if overwrite:
        removed = earlier_run_files(out, logs)
        for path in removed:
            path.unlink(missing_ok=True)
        if removed:
            fsync_directory(out)
            log.info("--overwrite: removed %s", ", ".join(p.name for p in removed))
        return
    if (out / "checkpoint.npz").is_file():
        raise ConfigError(
            f"{out / 'checkpoint.npz'} holds an unfinished run: pass --resume {out} to "
            "continue it (signfed server), or --overwrite to discard it, or choose another "
            "--out"
        )
    if (out / "summary.json").is_file():
        raise ConfigError(
            f"--out {out} holds a finished run (summary.json): pass --overwrite to replace "
            "it, or choose another --out"
        )
    metrics = out / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size > 0:
        raise ConfigError(
            f"--out {out} holds a started run (metrics.jsonl): pass --overwrite to replace "
            "it, or choose another --out"
        )
    stale_logs = [p.name for p in earlier_run_files(out, logs) if p.name not in RUN_FILES]
    if stale_logs:
        raise ConfigError(
            f"--out {out} holds an earlier run's logs ({', '.join(stale_logs[:3])}"
            f"{', ...' if len(stale_logs) > 3 else ''}): pass --overwrite to replace them, "
            "or choose another --out"
        )
