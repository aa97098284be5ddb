"""How `signfed client` ends: 0 only for a finished run. An interrupted server is waited
for (and a resumed one rejoined), a replaced stream is taken back, a server that never
answers is reported on one line; each ending has its exit code (client/outcome.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import client.session
from client.channel import connect
from client.config import ClientConfig
from client.outcome import EXIT_FAILED, EXIT_TEMPFAIL, ServerGone
from client.session import ClientSession
from common.proto import signfed_pb2_grpc as pb_grpc
from common.tokens import client_token
from server.outcome import Outcome
from tests.integration.processes import (
    read_metrics,
    spawn_client,
    spawn_server,
    stop_all,
    wait_for,
)
from tests.integration.raw import RawClient

RUN = ["--dataset", "digits", "--clients", "3", "--eval-every", "1000", "--seed", "5"]
SECRET = b"outcomes-test-secret-0123456789abcdef"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nobody listens on: bound, never listening, so connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


def test_clients_wait_out_an_interrupted_server_and_finish_with_the_resumed_one(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    rounds = 600
    first, port = spawn_server(
        [*RUN, "--rounds", str(rounds), "--port", "0", "--out", str(out)], tmp_path, "first"
    )
    clients = [spawn_client(port, i, tmp_path) for i in range(3)]
    resumed = None
    try:
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "round 20")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 1
        assert len(read_metrics(out)) < rounds, "the run finished before SIGTERM: raise rounds"
        time.sleep(2)
        assert [c.poll() for c in clients] == [None, None, None]  # told INTERRUPTED: waiting
        resumed, _ = spawn_server(["--resume", str(out), "--port", str(port)], tmp_path, "resumed")
        assert [c.wait(timeout=300) for c in clients] == [0, 0, 0]
        assert resumed.wait(timeout=60) == 0
    finally:
        stop_all(first, *clients, *([resumed] if resumed else []))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] is None and summary["rounds"] == rounds
    assert summary["replicas_identical"] is True and summary["clients_reported"] == 3
    for i in range(3):
        before, warned, after = _log(tmp_path / f"client-{i}.log").partition(
            "WARNING client.session: the server stopped the run: interrupted at round"
        )
        assert warned and f"joined as client {i} (client-{i}" in before
        assert f"joined as client {i} (client-{i}" in after  # the resumed server, same id


def test_clients_exit_75_when_the_interrupted_server_does_not_come_back(tmp_path: Path) -> None:
    out = tmp_path / "run"
    server, port = spawn_server(
        [*RUN, "--rounds", "100000", "--port", "0", "--out", str(out)], tmp_path
    )
    clients = [spawn_client(port, i, tmp_path, "--connect-timeout", "3") for i in range(3)]
    try:
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "round 20")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 1
        gone = time.monotonic()
        codes = [c.wait(timeout=60) for c in clients]
        waited = time.monotonic() - gone
    finally:
        stop_all(server, *clients)
    assert codes == [EXIT_TEMPFAIL] * 3
    assert 1.5 < waited < 30  # it waited for --connect-timeout (3 s) from the Stop, then gave up
    for i in range(3):
        log = _log(tmp_path / f"client-{i}.log")
        assert "Traceback" not in log
        last = log.strip().splitlines()[-1]
        gave_up = f"signfed client: gave up on the parameter server at 127.0.0.1:{port} after 3s"
        assert last.startswith(f"{gave_up}: the server stopped the run: interrupted at round")


def test_no_server_prints_a_waiting_line_then_one_error_line(closed_port: int) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "client", "--server", f"127.0.0.1:{closed_port}",
         "--connect-timeout", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == EXIT_TEMPFAIL
    assert time.monotonic() - started < 60  # not the old 60 s of silence
    assert f"waiting for the parameter server at 127.0.0.1:{closed_port} (up to 3s)" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"signfed client: no parameter server answered at 127.0.0.1:{closed_port} within 3s "
        "(check --server and that it runs)"
    )


def test_a_long_wait_says_so_every_few_seconds(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(client.session, "WAIT_LOG_EVERY_S", 0.5)
    config = ClientConfig(server=f"127.0.0.1:{closed_port}", connect_timeout_s=2.2)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="client.session"), pytest.raises(ServerGone):
        ClientSession(config).run()
    assert 2.0 < time.monotonic() - started < 10
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == f"waiting for the parameter server at 127.0.0.1:{closed_port} (up to 2s)"
    still = [line for line in lines if line.startswith("still waiting")]
    assert 3 <= len(still) <= 4, lines  # one every 0.5 s of the 2.2 s


def _raw_with_token(address: str, name: str) -> RawClient:
    """A raw client that sends `name`'s token, as the real client does."""
    raw = RawClient(address, name)
    raw.channel.close()
    token = client_token(SECRET, name)
    raw.channel = connect(ClientConfig(server=address, token=token), name)
    raw.stub = pb_grpc.ParameterServerStub(raw.channel)
    return raw


def test_a_client_whose_stream_is_taken_over_rejoins_and_finishes(tmp_path: Path) -> None:
    """With name-bound tokens a second Join under a name may replace a live client."""
    out, secret = tmp_path / "run", tmp_path / "secret"
    secret.write_bytes(SECRET)
    server, port = spawn_server(
        [*RUN, "--rounds", "1500", "--port", "0", "--out", str(out),
         "--token-secret-file", str(secret)],
        tmp_path,
    )  # fmt: skip
    clients = [
        spawn_client(port, i, tmp_path, "--token", client_token(SECRET, f"client-{i}"))
        for i in range(3)
    ]
    raw = None
    try:
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "round 20")
        raw = _raw_with_token(f"127.0.0.1:{port}", "client-1")
        raw.join()
        raw.open()  # takes client-1's place; the real client-1 takes it back
        assert raw.status_of_stream() == grpc.StatusCode.ABORTED
        assert [c.wait(timeout=300) for c in clients] == [0, 0, 0]
        assert server.wait(timeout=60) == 0
    finally:
        if raw is not None:
            raw.close()
        stop_all(server, *clients)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] is None and summary["replicas_identical"] is True
    assert summary["clients_reported"] == 3
    log = _log(tmp_path / "client-1.log")
    assert "WARNING" in log and "replaced by a newer Join of the same client" in log
    assert log.count("joined as client 1 (client-1") == 2


def test_a_failed_run_exits_1_with_the_reason(start_server: Any, tmp_path: Path) -> None:
    server = start_server(num_clients=1, rounds=100000)
    coordinator = server.running.coordinator
    client = spawn_client(server.port, 0, tmp_path)
    try:
        wait_for(lambda: server.call(lambda: coordinator.round) >= 5, 120, "round 5")

        async def fail() -> None:
            await coordinator.suspend()
            await coordinator.finish(Outcome.FAILED, "round 5 failed: the test broke it")

        asyncio.run_coroutine_threadsafe(fail(), server.loop).result(timeout=60)
        assert client.wait(timeout=60) == EXIT_FAILED
    finally:
        stop_all(client)
    log = _log(tmp_path / "client-0.log")
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1] == (
        "signfed client: the server reports the run FAILED: round 5 failed: the test broke it"
    )


def test_a_client_whose_name_is_in_use_waits_for_it(
    start_server: Any, raw_client: Any, tmp_path: Path
) -> None:
    server = start_server(num_clients=2)  # one attached stream never starts a round
    holder = raw_client(server.address, "client-0")
    holder.join()
    holder.open()
    client = spawn_client(server.port, 0, tmp_path)
    log = tmp_path / "client-0.log"
    try:
        wait_for(lambda: "is in use by a connected client" in _log(log), 120, "a refused Join")
        assert client.poll() is None  # refused, yet still trying
        holder.close()  # the name is free once its stream has ended
        wait_for(lambda: "joined as client 0 (client-0" in _log(log), 60, "the Join")
        assert client.poll() is None  # in, and waiting for a second client
    finally:
        stop_all(client)
    assert "WARNING client.session: the server aborted the call (name 'client-0'" in _log(log)
