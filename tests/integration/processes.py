"""Real signfed processes on 127.0.0.1 for integration tests."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signfed.local import client_argv, spawn

__all__ = ["read_metrics", "spawn", "spawn_client", "spawn_server", "stop_all", "wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def spawn_server(
    argv: list[str], log_dir: Path, name: str = "server"
) -> tuple[subprocess.Popen[bytes], int]:
    """`signfed server ARGV` publishing its port in a file; returns once it has bound.

    A server that exits before binding fails the test with its log."""
    port_file, log = log_dir / f"{name}.port", log_dir / f"{name}.log"
    proc = spawn(["server", *argv, "--port-file", str(port_file)], log)
    wait_for(lambda: port_file.exists() or proc.poll() is not None, 120, f"{name} to bind")
    assert proc.poll() is None, log.read_text()
    return proc, int(port_file.read_text())


def spawn_client(port: int, client_id: int, log_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """signfed.local's client, patient enough (120 s) to outlast a server restart."""
    argv = client_argv(port, client_id, "--connect-timeout", "120", *extra)
    return spawn(argv, log_dir / f"client-{client_id}.log")


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines(keepends=True)
    return [json.loads(line) for line in lines if line.endswith("\n")]


def stop_all(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
