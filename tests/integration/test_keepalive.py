"""A frozen client (SIGSTOP: its TCP connection stays up, it answers nothing) is found by
the keepalive pings and dropped, so the rounds go on without it; thawed, it reconnects,
resyncs and finishes with the same model as everyone else."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.integration.processes import (
    read_metrics,
    spawn_client,
    spawn_server,
    stop_all,
    wait_for,
)

WIRE = ["--keepalive", "0.5", "--keepalive-timeout", "1"]


def test_a_frozen_client_is_dropped_and_rejoins(tmp_path: Path) -> None:
    out = tmp_path / "run"
    server, port = spawn_server(
        ["--dataset", "digits", "--clients", "2", "--rounds", "3000", "--eval-every", "500",
         "--port", "0", "--out", str(out), *WIRE],
        tmp_path,
    )  # fmt: skip
    clients = []
    try:
        clients = [spawn_client(port, i, tmp_path, *WIRE) for i in range(2)]
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "20 rounds")
        clients[1].send_signal(signal.SIGSTOP)
        alone = wait_for(
            lambda: [r for r in read_metrics(out) if r["clients"] == 1], 60, "a round without it"
        )
        clients[1].send_signal(signal.SIGCONT)
        first_alone = alone[0]["round"]
        wait_for(
            lambda: [
                r for r in read_metrics(out) if r["round"] > first_alone and r["clients"] == 2
            ],
            120,
            "the thawed client back in the cohort",
        )
        for client in clients:
            assert client.wait(timeout=300) == 0
        assert server.wait(timeout=60) == 0
    finally:
        stop_all(server, *clients)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] is None and summary["replicas_identical"] is True
    log = (tmp_path / "client-1.log").read_text()
    assert "lost the server" in log  # it noticed its stream was gone, and came back
