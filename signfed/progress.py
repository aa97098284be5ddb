"""Progress lines for a run: one at every evaluation and every ~10% of the rounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class Progress:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.every = max(1, rounds // 10)

    def add(self, r: dict[str, Any]) -> None:
        """Print the record of one round when it is due."""
        if "accuracy" not in r and (r["round"] + 1) % self.every:
            return
        accuracy = f"  accuracy {r['accuracy']:.4f}" if "accuracy" in r else ""
        print(
            f"round {r['round'] + 1:>5}/{self.rounds}  {r['seconds']:8.1f}s  "
            f"clients {r['clients']:>3}  up {r['bytes_up']:>9,} B  down {r['bytes_down']:>9,} B"
            f"{accuracy}",
            flush=True,
        )


class FollowMetrics:
    """Follows a metrics.jsonl another process appends to, feeding Progress."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self.path = path
        self.progress = progress
        self._offset = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith("\n"):
                    break  # a half-written line: read it next time
                self._offset += len(line.encode())
                self.progress.add(json.loads(line))
