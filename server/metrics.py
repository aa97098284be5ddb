"""Run output: one JSON line per round (metrics.jsonl) and a final summary.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class MetricsWriter:
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
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
        written again by the rerun: they are dropped (atomically) before appending.
        """
        path = Path(out_dir) / "metrics.jsonl"
        kept = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
                if line.endswith("\n") and json.loads(line)["round"] < next_round:
                    kept.append(line)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
        writer = cls(out_dir)
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
        """Write summary.json atomically (temp file + rename) and return it."""
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
        tmp = self.out_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.out_dir / "summary.json")
        return summary

    def close(self) -> None:
        self._file.close()
