"""Round records in round order: each waits for its evaluation, if it has one.

The evaluation of round t's model runs on its own thread while rounds t + 1, t + 2, ...
go on, yet metrics.jsonl (and the log's one line per round) must stay in round order.
Records queue here and are written, in order, as soon as everything before them and
their own evaluation are done.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from server.metrics import MetricsSink

log = logging.getLogger(__name__)

Evaluation = asyncio.Future[tuple[float, float]]  # (accuracy, loss) of a round's model


class RoundRecords:
    def __init__(self, metrics: MetricsSink, num_params: int) -> None:
        self.metrics = metrics
        self.num_params = num_params
        self._queue: deque[tuple[dict[str, Any], Evaluation | None]] = deque()

    def add(self, record: dict[str, Any], evaluation: Evaluation | None = None) -> None:
        """Queue one round's record; it is written once `evaluation` (if any) is done."""
        if evaluation is not None:
            evaluation.add_done_callback(lambda _: self.write_ready())
        self._queue.append((record, evaluation))
        self.write_ready()

    async def flush(self) -> None:
        """Wait for every outstanding evaluation, then write every record."""
        pending = [e for _, e in self._queue if e is not None]
        if pending:
            await asyncio.wait(pending)
        self.write_ready()

    def write_ready(self) -> None:
        """Write records in round order, each once its evaluation has finished."""
        while self._queue:
            record, evaluation = self._queue[0]
            if evaluation is not None:
                if not evaluation.done():
                    return
                if evaluation.exception() is not None:  # keep training; say so in the log
                    log.error(
                        "evaluation of round %d failed: %r", record["round"], evaluation.exception()
                    )
                else:
                    accuracy, loss = evaluation.result()
                    record["accuracy"] = round(accuracy, 6)
                    record["loss"] = round(loss, 6)
            self._queue.popleft()
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self.metrics.round(record, num_params=self.num_params)
        # The coordinator's logger: the one INFO line per round a person watches.
        logging.getLogger("server.coordinator").info("%s", self.describe(record))

    def describe(self, record: dict[str, Any]) -> str:
        """The log line of one record."""
        return (
            f"round {record['round']}  clients {record['clients']}  up {record['bytes_up']} B  "
            f"down {record['bytes_down']} B  vote {record['aggregate_ms']:.1f} ms"
            f"{evaluated(record)}"
        )


def evaluated(record: dict[str, Any]) -> str:
    """'  accuracy 0.9123  loss 0.2810' for an evaluated record, else ''."""
    if "accuracy" not in record:
        return ""
    return f"  accuracy {record['accuracy']:.4f}  loss {record['loss']:.4f}"
