"""The server container dies mid-run, twice: once by kill -9 of its process, once by
SIGTERM. Compose's restart policy brings it back, `--continue` (SIGNFED_CONTINUE)
resumes its checkpoint, the client containers wait for it and rejoin by themselves, and
the run ends at the model an uninterrupted run ends at (`signfed simulate`, in the
same image)."""

from __future__ import annotations

import time
from typing import Any

import pytest

CLIENTS = 3
ROUNDS = 3000  # a few ms a round: room for two restarts mid-run
SETTINGS = {"SIGNFED_BATCH_SIZES": "16", "SIGNFED_LR": "0.01", "SIGNFED_EVAL_EVERY": "500"}
# Run inside the server container: send a signal to its signfed process.
SIGNAL = (
    "import os, sys\n"
    "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "    cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
    "    if int(pid) not in (1, os.getpid()) and b'signfed' in cmd:\n"
    "        os.kill(int(pid), int(sys.argv[1]))\n"
)


def _signal_server(s: Any, signum: int) -> None:
    (server,) = s.containers("server")
    code, output = server.exec_run(["python", "-c", SIGNAL, str(signum)])
    assert code == 0, output


def _wait_for_restarts(s: Any, count: int, timeout_s: float) -> None:
    """Until the restart policy has brought the server back `count` times."""
    (server,) = s.containers("server")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server.reload()
        if server.attrs["RestartCount"] >= count and server.status == "running":
            assert server.attrs["RestartCount"] == count
            return
        time.sleep(0.2)
    raise AssertionError(f"no restart #{count} in {timeout_s}s:\n{s.logs('server')}")


def _reference_digest(s: Any, image: str) -> str:
    """The uninterrupted run's model, simulated in the same image (same kernels)."""
    argv = ["simulate", "--dataset", "digits", "--clients", str(CLIENTS), "--rounds",
            str(ROUNDS), "--batch-sizes", "16", "--lr", "0.01", "--eval-every", "500",
            "--out", "/tmp/reference"]  # fmt: skip
    output = s.engine.containers.run(image, argv, remove=True, network_mode="none")
    line = next(x for x in output.decode().splitlines() if x.startswith("done:"))
    return line.rsplit("digest ", 1)[1].strip()


@pytest.mark.slow
def test_the_server_container_restarts_and_the_run_ends_at_the_simulated_model(
    stack: Any, image: str
) -> None:
    s = stack(
        SIGNFED_CLIENTS=str(CLIENTS),
        SIGNFED_ROUNDS=str(ROUNDS),
        SIGNFED_CHECKPOINT_EVERY="50",
        **SETTINGS,
    )
    s.up()
    s.wait_for_round(300, timeout_s=180)
    _signal_server(s, 9)  # a crash: no checkpoint at the end, the last periodic one
    _wait_for_restarts(s, 1, timeout_s=120)
    s.wait_for_round(1200, timeout_s=300)  # back, resumed, and training again
    _signal_server(s, 15)  # SIGTERM from inside: checkpoint, Stop(INTERRUPTED), exit 1
    _wait_for_restarts(s, 2, timeout_s=120)
    assert s.wait_server(timeout_s=600) == 0, s.logs("server")

    logs = s.logs("server")
    assert logs.count("resumed from a checkpoint at round") == 2, logs
    for c in s.containers("client"):  # they waited and rejoined: no exit before the end
        assert c.wait(timeout=60)["StatusCode"] == 0, c.logs().decode()
        c.reload()
        assert c.attrs["RestartCount"] == 0
    summary = s.summary()
    assert summary["rounds"] == ROUNDS and summary["error"] is None
    assert summary["replicas_identical"] is True
    assert [r["round"] for r in s.metrics()] == list(range(ROUNDS))
    assert summary["model_digest"].startswith(_reference_digest(s, image))
