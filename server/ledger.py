"""What the run has cost: bytes each way and time in the open round, training seconds.

The stream layer counts what it reads (`up`), the coordinator what it sends (`down`);
at the close the ledger turns the round into its metrics.jsonl record
(server/engine.round_record, the schema every backend shares) and starts afresh.
Training seconds run from round 0 and include a resumed run's earlier ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from server.engine import Decided, round_record


class RoundLedger:
    def __init__(self) -> None:
        self.bytes_up = 0
        self.bytes_down = 0
        self.opened = 0.0  # perf_counter() when the open round began; 0: none yet
        self.started = 0.0  # perf_counter() when round 0 began; 0: not yet
        self.seconds_before = 0.0  # training time before a resumed checkpoint

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Training seconds so far, a resumed run's earlier ones included."""
        running = time.perf_counter() - self.started if self.started else 0.0
        return self.seconds_before + running

    def up(self, nbytes: int) -> None:
        self.bytes_up += nbytes

    def down(self, nbytes: int) -> None:
        self.bytes_down += nbytes

    def open(self) -> None:
        self.opened = time.perf_counter()

    def close(self, decided: Decided, *, clients: int, erasures: Sequence[int]) -> dict[str, Any]:
        """The closed round's record; the counts start again for the next round."""
        record = round_record(
            decided,
            clients=clients,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            seconds=self.elapsed(),
            round_ms=(time.perf_counter() - self.opened) * 1e3,
            erasures=erasures,
        )
        self.bytes_up = self.bytes_down = 0
        return record
