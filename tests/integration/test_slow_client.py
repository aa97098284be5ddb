"""A real slow client (`signfed client --delay`) among fast ones: with a round deadline
and a quorum the rounds close without it, so it blocks nobody; its late updates are
rejected and counted as erasures, and after three in a row it is let go."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.processes import read_metrics, spawn_client, spawn_server, stop_all

DELAY_S, DEADLINE_S, ROUNDS = 2.5, 1.0, 6


def test_a_slow_client_blocks_nobody(tmp_path: Path) -> None:
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    server, port = spawn_server(
        ["--dataset", "digits", "--clients", "3", "--rounds", str(ROUNDS), "--eval-every", "3",
         "--round-deadline", str(DEADLINE_S), "--quorum", "0.5", "--port", "0",
         "--out", str(out)],
        logs,
    )  # fmt: skip
    fast = [spawn_client(port, i, logs, "--threads", "1") for i in (0, 1)]
    # let go after three late rounds, it would wait for a server to come back: not long
    slow = spawn_client(
        port, 2, logs, "--threads", "1", "--delay", str(DELAY_S), "--connect-timeout", "5"
    )
    try:
        assert server.wait(timeout=300) == 0, (logs / "server.log").read_text()
        assert [p.wait(timeout=60) for p in fast] == [0, 0]
        slow.wait(timeout=60)
    finally:
        stop_all(server, *fast, slow)
    records = read_metrics(out)
    assert [r["round"] for r in records] == list(range(ROUNDS))
    # every round closed by the quorum at its deadline, without the slow client: an
    # erasure while a member, then let go after its third (MAX_MISSED_DEADLINES)
    assert all(r["clients"] == 2 for r in records), records
    assert [2 in r.get("erasures", []) for r in records[:3]] == [True] * 3, records
    assert all(r["round_ms"] < 1e3 * DELAY_S for r in records)  # it never waited for it
    said = (logs / "client-2.log").read_text()
    assert "arrived after the round closed" in said
    assert "missed 3 round deadlines in a row: let go" in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == ROUNDS and summary["error"] is None
