"""Run output: one JSON line per round (metrics.jsonl) and a final summary.json.

Both backends (the coordinator and the simulation) write through the `MetricsSink`
interface; `MetricsWriter` is its JSONL implementation. Another sink (TensorBoard
scalars, a Prometheus exporter) implements the same four methods and receives the
same records, in round order.

A fresh run creates metrics.jsonl anew (an earlier run's rows never precede its own;
server/run_dir.py decides whether that earlier run may be replaced). A resumed run
keeps the rows before its checkpoint and appends from there.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

from common.atomic import write_atomic

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


class MetricsSink(Protocol):
    last_accuracy: float | None  # the latest evaluation's, for Status

    def round(self, record: dict[str, Any], *, num_params: int) -> None:
        """One round's record (server/engine.round_record's schema), in round order."""
        ...

    def totals(self) -> dict[str, Any]:
        """Running totals, for a checkpoint (a resumed sink continues from them)."""
        ...

    def summary(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The run's end: the totals with `fields` (server/summary.py); returns it."""
        ...

    def close(self) -> None: ...


class MetricsWriter:
    def __init__(self, out_dir: str | Path, *, _append: bool = False) -> None:
        """A fresh run's writer: metrics.jsonl is created empty (`_append`: resumed())."""
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        mode = "a" if _append else "w"
        self._file = open(self.out_dir / METRICS, mode, encoding="utf-8")  # noqa: SIM115
        self.total_up = 0
        self.total_down = 0
        self.float32_bytes = 0
        self.last_accuracy: float | None = None
        self.last_loss: float | None = None

    def totals(self) -> dict[str, Any]:
        """The running totals, for a checkpoint."""
        return {
            "total_up": self.total_up,
            "total_down": self.total_down,
            "float32_bytes": self.float32_bytes,
            "last_accuracy": self.last_accuracy,
            "last_loss": self.last_loss,
        }

    @classmethod
    def resumed(cls, out_dir: str | Path, totals: dict[str, Any], next_round: int) -> MetricsWriter:
        """A writer that continues a checkpointed run at `next_round`.

        Records of rounds >= next_round were written after the checkpoint and will be
        written again by the rerun: they are dropped (atomically) before appending, and
        so is a line a crash cut short. `totals` must have been validated by the caller.
        """
        path = Path(out_dir) / METRICS
        kept, dropped = [], 0
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines(True):
                if _round_of(line) < next_round:
                    kept.append(line)
                else:
                    dropped += 1
        write_atomic(path, "".join(kept).encode("utf-8"))
        if dropped:
            log.info("%s: dropped %d rows from round %d on, to be rerun", path, dropped, next_round)
        writer = cls(out_dir, _append=True)
        writer.total_up = int(totals["total_up"])
        writer.total_down = int(totals["total_down"])
        writer.float32_bytes = int(totals["float32_bytes"])
        writer.last_accuracy = totals["last_accuracy"]
        writer.last_loss = totals["last_loss"]
        return writer

    def round(self, record: dict[str, Any], *, num_params: int) -> None:
        """Append one round's record; keeps the running totals for the summary."""
        self.total_up += int(record["bytes_up"])
        self.total_down += int(record["bytes_down"])
        # What the same round would cost with float32 vectors both ways.
        self.float32_bytes += 2 * 4 * num_params * int(record["clients"])
        if "accuracy" in record:
            self.last_accuracy = float(record["accuracy"])
            self.last_loss = float(record["loss"])
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()

    def summary(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Write summary.json atomically and durably, and return it."""
        total = self.total_up + self.total_down
        summary = {
            "final_accuracy": self.last_accuracy,
            "final_loss": self.last_loss,
            "total_bytes": total,
            "bytes_up": self.total_up,
            "bytes_down": self.total_down,
            "float32_bytes": self.float32_bytes,
            "compression": (self.float32_bytes / total) if total else None,
            **fields,
        }
        text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
        write_atomic(self.out_dir / SUMMARY, text.encode("utf-8"))
        return summary

    def close(self) -> None:
        self._file.close()


def _round_of(line: str) -> float:
    """The round of one metrics line; infinity (dropped) for a torn or foreign line."""
    if not line.endswith("\n"):
        return float("inf")
    try:
        record = json.loads(line)
    except ValueError:
        return float("inf")
    value = record.get("round") if isinstance(record, dict) else None
    return value if type(value) is int else float("inf")
