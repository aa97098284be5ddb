"""One training run across emulated WAN links: a server and M clients, each on a host of
its own (tests/netlab.py: network namespaces), every client behind a link of `mbit`
Mbit/s each way with `rtt_ms` of round trip (tests/delay_relay.py in its namespace: this
kernel has no netem), the server behind 1 Gbit/s. Used by benchmarks/time_to_accuracy.py.

Needs root, iproute2 and iptables. The clients share this machine's cores, as no real
deployment would: a round's compute is the clients' passes spread over the cores here,
one pass on a real client's own CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from tests.netlab import NetLab

SERVER_MBIT = 1000.0
RELAY_PORT = 40000  # in each client's namespace: the relay the client dials
# A keepalive ping queues behind whatever the link is carrying: at 1 Mbit/s a float32
# model (2.3 MB) takes 19 s, so the default 10 s timeout would cut every client off
# mid-transfer, over and over (measured). Pings every 30 s, up to 300 s for an answer.
KEEPALIVE = ["--keepalive", "30", "--keepalive-timeout", "300"]


@dataclass(frozen=True)
class LinkRun:
    """What one run measured: its rounds after the first (start-up and caches apart)."""

    seconds_per_round: float  # median round_ms / 1000
    bytes_up: float  # per round, all clients
    bytes_down: float
    aggregate_ms: float  # the server's vote / mean, median
    rounds: int


def measure(
    run: list[str], clients: int, mbit: float, rtt_ms: float, rounds: int, out: Path
) -> LinkRun:
    """`signfed server RUN` and `clients` clients for `rounds` rounds over the links."""
    out.mkdir(parents=True, exist_ok=True)
    lab = NetLab()
    try:
        server = lab.host("server")
        lab.rate(server, SERVER_MBIT)
        port_file = out / "port"
        port_file.unlink(missing_ok=True)
        lab.signfed(
            server,
            ["server", "--host", server.address, "--port", "0", "--port-file", str(port_file),
             "--clients", str(clients), "--rounds", str(rounds), "--eval-every", "100000",
             "--out", str(out / "run"), "--overwrite", "--round-deadline", "0", *KEEPALIVE, *run],
            out / "server.log",
        )  # fmt: skip
        _until(port_file.exists, 120, out / "server.log")
        target = f"{server.address}:{int(port_file.read_text())}"
        for i in range(clients):
            host = lab.host(f"c{i}")
            lab.rate(host, mbit)
            relay = [sys.executable, "-m", "tests.delay_relay", "--listen",
                     f"127.0.0.1:{RELAY_PORT}", "--target", target,
                     "--delay-ms", str(rtt_ms / 2)]  # fmt: skip
            lab.processes.append(_in(host.namespace, relay, out / f"relay-{i}.log"))
            argv = ["client", "--server", f"127.0.0.1:{RELAY_PORT}", "--client-id", str(i),
                    "--threads", "1", "--connect-timeout", "300", *KEEPALIVE]  # fmt: skip
            lab.signfed(host, argv, out / f"client-{i}.log")
        code = lab.processes[0].wait(timeout=3600)
        if code != 0:
            raise RuntimeError(f"the server exited with {code}: see {out / 'server.log'}")
    finally:
        lab.close()
    return _measured(out / "run" / "metrics.jsonl")


def _in(namespace: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as sink:
        return subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv], stdout=sink, stderr=subprocess.STDOUT
        )


def _until(done: Any, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing after {timeout:.0f} s: see {log}")
        time.sleep(0.1)


def _measured(metrics: Path) -> LinkRun:
    records = [json.loads(line) for line in metrics.read_text().splitlines()][1:]
    return LinkRun(
        seconds_per_round=median(r["round_ms"] for r in records) / 1000,
        bytes_up=median(r["bytes_up"] for r in records),
        bytes_down=median(r["bytes_down"] for r in records),
        aggregate_ms=median(r["aggregate_ms"] for r in records),
        rounds=len(records),
    )
