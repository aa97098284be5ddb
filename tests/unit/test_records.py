"""Round records reach metrics.jsonl in round order, each with its evaluation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from server.metrics import MetricsWriter
from server.records import RoundRecords


def _record(t: int) -> dict[str, object]:
    return {"round": t, "clients": 2, "bytes_up": 10, "bytes_down": 10, "aggregate_ms": 0.1}


def test_records_wait_for_their_evaluation_and_keep_round_order(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, object]]:
        loop = asyncio.get_running_loop()
        metrics = MetricsWriter(tmp_path)
        records = RoundRecords(metrics, num_params=8)
        slow: asyncio.Future[tuple[float, float]] = loop.create_future()
        records.add(_record(0))
        records.add(_record(1), slow)  # its evaluation is still running ...
        records.add(_record(2))  # ... so round 2 waits behind it
        written = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert [r["round"] for r in written] == [0]
        slow.set_result((0.5, 1.25))
        await records.flush()
        metrics.close()
        return [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]

    rows = asyncio.run(scenario())
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert rows[1]["accuracy"] == 0.5 and rows[1]["loss"] == 1.25
    assert "accuracy" not in rows[0] and "accuracy" not in rows[2]


def test_a_failed_evaluation_still_writes_its_record(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        metrics = MetricsWriter(tmp_path)
        records = RoundRecords(metrics, num_params=8)
        failed: asyncio.Future[tuple[float, float]] = loop.create_future()
        failed.set_exception(RuntimeError("out of memory"))
        records.add(_record(0), failed)
        await records.flush()
        metrics.close()
        return (tmp_path / "metrics.jsonl").read_text().splitlines()

    (line,) = asyncio.run(scenario())
    assert json.loads(line)["round"] == 0 and "accuracy" not in json.loads(line)
