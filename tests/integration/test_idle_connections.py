"""Idle TCP connections must not end a run: a flood of connections that send nothing,
more than the server's open-file limit, while it trains and checkpoints.

The server runs under a 256-descriptor limit (soft and hard, so it cannot raise it):
without a cap on connections gRPC takes every descriptor and the next checkpoint
write fails with EMFILE, which used to end the run."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common.tokens import client_token
from tests.certs import make_certs
from tests.integration.processes import read_metrics, spawn_client, stop_all, wait_for

FD_LIMIT = 256
FLOOD = 400  # idle connections kept open at all times: more than FD_LIMIT
ROUNDS = 1500


def _token(client_id: int, secure: bool) -> list[str]:
    """The client's token under the test's secret (its name: client-<id>)."""
    if not secure:
        return []
    return ["--token", client_token(b"idle-connections-secret-0123456789", f"client-{client_id}")]


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


class Flood:
    """Keeps FLOOD idle connections open to a port, reopening those the server closes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sockets: list[socket.socket] = []
        try:
            while not self.stop.is_set():
                alive = []
                for s in sockets:  # a closed connection reads b"" (or fails)
                    try:
                        s.setblocking(False)
                        gone = s.recv(1) == b""
                    except BlockingIOError:
                        gone = False
                    except OSError:
                        gone = True
                    (s.close() if gone else alive.append(s))
                sockets = alive
                while len(sockets) < FLOOD and not self.stop.is_set():
                    s = socket.socket()
                    s.settimeout(1.0)
                    try:
                        s.connect(("127.0.0.1", self.port))
                    except OSError:
                        s.close()
                        break
                    sockets.append(s)
                    self.opened += 1
                time.sleep(0.2)
        finally:
            for s in sockets:
                s.close()


def _mutual_tls_with_tokens(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Server and client flags: mutual TLS, and a token secret (names bound)."""
    certs = make_certs(tmp_path / "certs")
    secret = tmp_path / "secret"
    secret.write_text("idle-connections-secret-0123456789\n")
    server = [
        "--tls-cert",
        str(certs / "server.pem"),
        "--tls-key",
        str(certs / "server.key"),
        "--tls-client-ca",
        str(certs / "ca.pem"),
        "--token-secret-file",
        str(secret),
    ]
    client = ["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "client.pem"),
              "--tls-key", str(certs / "client.key")]  # fmt: skip
    return server, client


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "mtls-tokens"])
def test_idle_connections_beyond_the_fd_limit_do_not_end_the_run(
    tmp_path: Path, secure: bool
) -> None:
    out, port_file = tmp_path / "run", tmp_path / "server.port"
    server_flags, client_flags = _mutual_tls_with_tokens(tmp_path) if secure else ([], [])
    argv = [
        sys.executable, "-m", "signfed.cli", "server", "--dataset", "digits", "--clients", "3",
        "--rounds", str(ROUNDS), "--eval-every", "500", "--checkpoint-every", "3",
        "--port", "0", "--port-file", str(port_file), "--out", str(out), *server_flags,
    ]  # fmt: skip
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_limited)
    wait_for(lambda: port_file.exists() or server.poll() is not None, 120, "the server to bind")
    assert server.poll() is None, (tmp_path / "server.log").read_text()
    port = int(port_file.read_text())
    clients = [spawn_client(port, i, tmp_path, *client_flags, *_token(i, secure)) for i in range(3)]
    flood = Flood(port)
    try:
        wait_for(lambda: read_metrics(out), 120, "round 0")
        flood.thread.start()
        assert server.wait(timeout=600) == 0, (tmp_path / "server.log").read_text()[-3000:]
        assert [c.wait(timeout=60) for c in clients] == [0, 0, 0]
    finally:
        flood.stop.set()
        stop_all(server, *clients)
    flood.thread.join(timeout=10)
    log = (tmp_path / "server.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] is None and summary["replicas_identical"] is True
    assert [r["round"] for r in read_metrics(out)] == list(range(ROUNDS))
    # The flood did reach the limit while the run trained, and checkpoints kept working.
    assert flood.opened >= FLOOD, flood.opened
    assert "Too many open files" not in log
    assert log.count("checkpoint at round") >= 10
