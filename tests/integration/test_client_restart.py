"""A client killed mid-run does not stop the run; restarted, it rejoins and finishes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.processes import read_metrics, spawn, spawn_server, stop_all, wait_for

ROUNDS = 4000  # digits rounds take milliseconds: enough to kill and restart mid-run


def test_killed_client_is_dropped_then_rejoins(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    server, port = spawn_server(
        ["--dataset", "digits", "--clients", "3", "--rounds", str(ROUNDS),
         "--eval-every", "1000", "--port", "0", "--out", str(out)],
        out,
    )  # fmt: skip
    clients: list[subprocess.Popen[bytes]] = []

    def client(i: int) -> subprocess.Popen[bytes]:
        return spawn(
            ["client", "--server", f"127.0.0.1:{port}", "--client-id", str(i),
             "--batch-size", "16"],
            out / f"client-{i}-{len(clients)}.log",
        )  # fmt: skip

    try:
        clients = [client(0), client(1), client(2)]
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "round 20")
        victim = clients[2]
        victim.kill()
        victim.wait()
        killed_at = len(read_metrics(out))
        wait_for(lambda: any(r["clients"] == 2 for r in read_metrics(out)), 60, "cohort of 2")
        clients.append(client(2))  # same id and name: a rejoin
        wait_for(
            lambda: any(r["clients"] == 3 for r in read_metrics(out)[killed_at + 1 :]),
            120,
            "rejoin",
        )
        assert server.wait(timeout=300) == 0
    finally:
        stop_all(server, *clients)

    counts = [r["clients"] for r in read_metrics(out)]
    assert len(counts) == ROUNDS
    first_two = counts.index(2)
    assert 3 in counts[first_two:], "the restarted client never re-entered the cohort"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas_identical"] is True
    assert summary["clients_reported"] == 3
    assert "fetched model" in (out / "client-2-3.log").read_text()
