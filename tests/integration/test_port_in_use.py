"""A second server on a port another one listens on is an error at start (gRPC sets
SO_REUSEPORT by default on Linux: both used to listen, and split the clients)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.processes import spawn_server, stop_all


def test_a_taken_port_is_an_error_at_start(tmp_path: Path) -> None:
    first, port = spawn_server(
        ["--dataset", "digits", "--port", "0", "--out", str(tmp_path / "first")], tmp_path
    )
    try:
        second = subprocess.run(
            [sys.executable, "-m", "signfed.cli", "server", "--dataset", "digits",
             "--port", str(port), "--out", str(tmp_path / "second")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert first.poll() is None  # the first server is untouched
    finally:
        stop_all(first)
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the address is in use" in second.stderr
    assert not (tmp_path / "second" / "metrics.jsonl").exists()
