"""Progress lines number rounds as metrics.jsonl does (from 0); before round 0 the
launcher says every ~5 s how many clients the server has."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from signfed.progress import WAIT_REPORT_S, ClientWait, Progress


def _record(t: int, **extra: Any) -> dict[str, Any]:
    return {"round": t, "seconds": 1.5, "clients": 15, "bytes_up": 10, "bytes_down": 20, **extra}


def test_rounds_are_the_metrics_index_with_a_done_count(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(300)
    for t in range(300):
        progress.add(_record(t, **({"accuracy": 0.5, "loss": 1.0} if t == 49 else {})))
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[0].startswith("round 29 (30/300) 1.5s clients 15")
    assert lines[1].startswith("round 49 (50/300)") and lines[1].endswith("accuracy 0.5000")
    assert lines[-1].startswith("round 299 (300/300)")
    assert len(lines) == 11  # every 30 rounds, and the evaluation at round 49


def test_waiting_lines_until_round_0(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    replies = iter(
        [
            None,  # the server did not answer in time: ask again later
            SimpleNamespace(state="waiting", active_clients=7),
            SimpleNamespace(state="training", active_clients=15),
        ]
    )
    wait = ClientWait("127.0.0.1:1", 15, ask=lambda: next(replies), clock=lambda: now[0])
    for step in range(40):  # 20 s in 0.5 s steps
        now[0] = step * 0.5
        wait.poll()
    # Asked at 5, 10 and 15 s: silence, a line, and then round 0 had started.
    assert capsys.readouterr().out == "waiting for clients: 7/15 joined\n"
    assert wait.done
    assert WAIT_REPORT_S == 5.0
