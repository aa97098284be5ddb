"""SIGTERM stops the server cleanly: a checkpoint, exit code 1 and a summary that says why."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from common.checkpoint import load_checkpoint
from tests.integration.processes import spawn, spawn_server, stop_all


def test_sigterm_writes_a_summary_and_exits(tmp_path: Path) -> None:
    server, _ = spawn_server(
        ["--dataset", "digits", "--clients", "2", "--port", "0", "--out", str(tmp_path)],
        tmp_path,
    )
    try:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 1
    finally:
        stop_all(server)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["error"] == f"interrupted at round 0; resume with --resume {tmp_path}"
    assert summary["rounds"] == 0 and summary["replicas_identical"] is False
    # The state went to a checkpoint first, and a fresh run there is refused: it would
    # overwrite the interrupted one.
    assert load_checkpoint(tmp_path / "checkpoint.npz").round == 0
    again = spawn(
        ["server", "--dataset", "digits", "--port", "0", "--out", str(tmp_path)],
        tmp_path / "again.log",
    )
    try:
        assert again.wait(timeout=120) == 2
    finally:
        stop_all(again)
    assert "holds an unfinished run: pass --resume" in (tmp_path / "again.log").read_text()
