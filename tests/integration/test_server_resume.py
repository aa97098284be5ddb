"""kill -9 (or SIGTERM) the server at a random round, restart it with --resume: the
clients come back by themselves, and the run finishes at the very model an
uninterrupted run of the same seed ends at (the in-process simulation, bit-identical to
the networked run by test_simulate_matches_network)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.checkpoint import load_checkpoint
from tests.integration.processes import (
    read_metrics,
    spawn_client,
    spawn_server,
    stop_all,
    wait_for,
)

ROUNDS = 200
RUN = ["--dataset", "digits", "--clients", "3", "--rounds", str(ROUNDS), "--eval-every", "20",
       "--warmup-rounds", "10", "--seed", "3"]  # fmt: skip


def _reference_digest(tmp_path: Path) -> str:
    out = tmp_path / "reference"
    subprocess.run(
        [sys.executable, "-m", "signfed.cli", "simulate", *RUN, "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(json.loads((out / "summary.json").read_text())["model_digest"])


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_stopped_server_resumes_to_the_uninterrupted_model(
    tmp_path: Path, how: signal.Signals
) -> None:
    kill_after = random.randint(20, 120)  # a different round every run: any must do
    out = tmp_path / "run"
    server, port = spawn_server(
        [*RUN, "--port", "0", "--out", str(out), "--checkpoint-every", "7"], tmp_path, "first"
    )
    clients = [spawn_client(port, i, tmp_path) for i in range(3)]
    resumed = None
    try:
        wait_for(lambda: len(read_metrics(out)) > kill_after, 180, f"round {kill_after}")
        server.send_signal(how)
        # SIGTERM: a checkpoint at the round it stopped, then exit 1 (not finished).
        assert server.wait(timeout=30) == (1 if how == signal.SIGTERM else -signal.SIGKILL)
        done = len(read_metrics(out))
        assert done < ROUNDS, "the run finished before the kill: raise ROUNDS"
        checkpoint_round = load_checkpoint(out / "checkpoint.npz").round
        if how == signal.SIGKILL:  # the last periodic checkpoint
            assert checkpoint_round % 7 == 0 and 0 < checkpoint_round <= done
        else:  # every round closed before the signal, written out
            assert checkpoint_round == done
        assert all(c.poll() is None for c in clients)  # waiting for a server, not gone

        # No run flags: the settings come from the checkpoint.
        resumed, _ = spawn_server(["--resume", str(out), "--port", str(port)], tmp_path, "resumed")
        for client in clients:
            assert client.wait(timeout=300) == 0
        assert resumed.wait(timeout=60) == 0
    finally:
        stop_all(server, *clients, *([resumed] if resumed else []))

    log = (tmp_path / "resumed.log").read_text()
    assert f"resumed from a checkpoint at round {checkpoint_round}" in log
    summary = json.loads((out / "summary.json").read_text())
    where = f"(killed after round {kill_after}, resumed at {checkpoint_round})"
    assert summary["error"] is None, where
    assert summary["replicas_identical"] is True, where
    assert summary["model_digest"] == _reference_digest(tmp_path), where
    # Every round once, in order: the rounds replayed after the checkpoint replaced
    # the records the killed server had written for them.
    assert [r["round"] for r in read_metrics(out)] == list(range(ROUNDS))
    assert not (out / "checkpoint.npz").exists()  # a finished run leaves none behind
