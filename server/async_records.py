"""An asynchronous run's bookkeeping: one metrics.jsonl record per update received, the
bytes and seconds behind it, and what a checkpoint saves of the run.

The records have the simulation's fields (signfed/async_simulation.py), so reports,
and `signfed simulate --replay`, read a networked run's metrics.jsonl as a simulated
one's: `round` is the update's number n, `update` its sender's count k, `base_version`
the version it was trained from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from server.async_model import Arrival, AsyncModel
from server.records import RoundRecords, evaluated


def update_record(
    n: int, client: int, sequence: int, arrival: Arrival, up: int, down: int, seconds: float
) -> dict[str, Any]:
    """Update n's metrics.jsonl record (the simulation's schema, less virtual time)."""
    return {
        "round": n,
        "client": client,
        "update": sequence,
        "base_version": arrival.base_version,
        "staleness": arrival.staleness,
        "status": arrival.status,
        "version": arrival.version,
        "weight": round(arrival.weight, 9),
        "clients": 1,
        "bytes_up": up,
        "bytes_down": down,
        "seconds": round(seconds, 4),
    }


class AsyncRecords(RoundRecords):
    """Records in update order, each once its evaluation (if any) is done."""

    def describe(self, record: dict[str, Any]) -> str:
        return (
            f"update {record['round']}  client {record['client']}  from "
            f"v{record['base_version']}  {record['status']} -> v{record['version']}  "
            f"up {record['bytes_up']} B  down {record['bytes_down']} B{evaluated(record)}"
        )


class AsyncProgress:
    """Bytes each way since the last record, training seconds (a resumed run's earlier
    ones included); and, for the Checkpointer, the run as a checkpoint holds it: x, the
    updates received (its `round`) and the version with FedBuff's buffer (its state)."""

    def __init__(self, model: AsyncModel, received: Callable[[], int]) -> None:
        self._model = model
        self._received = received
        self.bytes_up = 0
        self.bytes_down = 0
        self.started = 0.0  # perf_counter() when the run began; 0: not yet
        self.seconds_before = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        running = time.perf_counter() - self.started if self.started else 0.0
        return self.seconds_before + running

    def take_bytes(self) -> tuple[int, int]:
        """(up, down) since the last call: the next record's."""
        counts = (self.bytes_up, self.bytes_down)
        self.bytes_up = self.bytes_down = 0
        return counts

    @property
    def flat(self) -> np.ndarray:
        return self._model.flat

    @property
    def round(self) -> int:
        return self._received()

    def state_dict(self) -> dict[str, np.ndarray]:
        return self._model.state_dict()
