"""A signfed server and its clients on the hosts of a NetLab, over TLS."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.tokens import client_token, read_secret_file
from tests.certs import make_certs
from tests.netlab import Host, NetLab

# Quick to notice a pulled cable: ping every 2 s, give up after 2 s without an answer.
KEEPALIVE = ["--keepalive", "2", "--keepalive-timeout", "2"]


@dataclass
class Cluster:
    lab: NetLab
    out: Path  # the server's run directory
    logs: Path
    server: subprocess.Popen[bytes]
    clients: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def metrics(self) -> list[dict[str, Any]]:
        path = self.out / "metrics.jsonl"
        lines = path.read_text().splitlines(keepends=True) if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("\n")]

    def wait_for_round(self, round_index: int, timeout: float = 120) -> None:
        self._until(lambda: any(r["round"] >= round_index for r in self.metrics()), timeout)

    def _until(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, self.log_tail()
            assert self.server.poll() is None, self.log_tail()
            time.sleep(0.1)

    def finish(self, timeout: float = 300) -> dict[str, Any]:
        """Every process's exit code is 0; returns the server's summary."""
        codes = [p.wait(timeout=timeout) for p in (self.server, *self.clients)]
        assert codes == [0] * len(codes), self.log_tail()
        summary: dict[str, Any] = json.loads((self.out / "summary.json").read_text())
        return summary

    def log_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in self.logs.glob("*.log"))


def start(
    lab: NetLab,
    tmp_path: Path,
    server: Host,
    clients: Sequence[Host],
    run: Sequence[str],
    server_extra: Sequence[str] = (),
    client_extra: Sequence[str] = (),
) -> Cluster:
    """`signfed server` on `server` and one `signfed client` on each of `clients`, as on
    separate machines (README: On real separate machines): TLS with a certificate for
    the server's address, each client with its own token from a shared secret. Returns
    once all are started."""
    certs = make_certs(tmp_path / "certs", server.address)
    secret = certs / "token-secret"
    secret.write_text(secrets.token_hex(32))
    port_file, out = tmp_path / "port", tmp_path / "run"
    process = lab.signfed(
        server,
        ["server", "--host", server.address, "--port", "0", "--port-file", str(port_file),
         "--clients", str(len(clients)), "--out", str(out), *run, *server_extra, *KEEPALIVE,
         "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
         "--token-secret-file", str(secret)],
        tmp_path / "server.log",
    )  # fmt: skip
    cluster = Cluster(lab, out, tmp_path, process)
    cluster._until(port_file.exists, 120)
    address = f"{server.address}:{int(port_file.read_text())}"
    for i, host in enumerate(clients):
        token = certs / f"client-{i}.token"  # what `signfed token` prints for the name
        token.write_text(client_token(read_secret_file(str(secret)), f"client-{i}"))
        argv = ["client", "--server", address, "--client-id", str(i), "--name", f"client-{i}",
                "--tls-ca", str(certs / "ca.pem"), "--token-file", str(token),
                "--connect-timeout", "120", *KEEPALIVE, *client_extra]  # fmt: skip
        cluster.clients.append(lab.signfed(host, argv, tmp_path / f"client-{i}.log"))
    return cluster
