"""What one open round has cost so far: bytes each way and time since it opened.

The stream layer counts what it reads (`up`), the coordinator what it sends (`down`);
at the close the ledger turns the round into its metrics.jsonl record
(server/engine.round_record, the schema every backend shares) and starts afresh.
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

    def up(self, nbytes: int) -> None:
        self.bytes_up += nbytes

    def down(self, nbytes: int) -> None:
        self.bytes_down += nbytes

    def open(self) -> None:
        self.opened = time.perf_counter()

    def close(
        self, decided: Decided, *, clients: int, seconds: float, erasures: Sequence[int]
    ) -> dict[str, Any]:
        """The closed round's record; the counts start again for the next round."""
        record = round_record(
            decided,
            clients=clients,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            seconds=seconds,
            round_ms=(time.perf_counter() - self.opened) * 1e3,
            erasures=erasures,
        )
        self.bytes_up = self.bytes_down = 0
        return record
