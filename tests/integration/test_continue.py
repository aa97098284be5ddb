"""`signfed server --continue`: one command that a restart policy can rerun. It resumes
the unfinished run in --out, or starts a fresh one; a finished run still needs
--overwrite."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.processes import (
    read_metrics,
    spawn_client,
    spawn_server,
    stop_all,
    wait_for,
)

ROUNDS = 400


def test_continue_resumes_an_interrupted_run_and_refuses_a_finished_one(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--dataset", "digits", "--clients", "3", "--rounds", str(ROUNDS), "--eval-every",
            "100", "--checkpoint-every", "5", "--out", str(out), "--continue"]  # fmt: skip
    first, port = spawn_server([*argv, "--port", "0"], tmp_path, "first")
    clients = [spawn_client(port, i, tmp_path) for i in range(3)]
    second = None
    try:
        wait_for(lambda: len(read_metrics(out)) >= 30, 120, "round 30")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 1
        # The very same command (a restart policy's): it continues the run.
        second, _ = spawn_server([*argv, "--port", str(port)], tmp_path, "second")
        assert [c.wait(timeout=300) for c in clients] == [0, 0, 0]
        assert second.wait(timeout=60) == 0
    finally:
        stop_all(first, *clients, *([second] if second else []))
    assert "resumed from a checkpoint at round" in (tmp_path / "second.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] is None and summary["replicas_identical"] is True
    assert [r["round"] for r in read_metrics(out)] == list(range(ROUNDS))

    # Finished: --continue has nothing to continue, and does not replace the run.
    again = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "server", *argv, "--port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2
    assert "holds a finished run" in again.stderr and "Traceback" not in again.stderr
    assert len(read_metrics(out)) == ROUNDS
