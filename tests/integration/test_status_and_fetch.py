"""Status for healthchecks, and FetchModel in chunks."""

from __future__ import annotations

from typing import Any

import numpy as np

from common.config import WireConfig
from common.params import digest
from common.proto import signfed_pb2 as pb


def test_status_reports_progress(start_server: Any, raw_client: Any) -> None:
    server = start_server(num_clients=1, rounds=3)
    client = raw_client(server.address, "solo")
    reply = client.stub.Status(pb.StatusRequest(), timeout=10)
    assert (reply.state, reply.round, reply.rounds, reply.active_clients) == ("waiting", 0, 3, 0)
    client.join()
    client.open()
    assert client.receive().start.round == 0
    client.vote(0)
    assert client.receive().decision.round == 0
    reply = client.stub.Status(pb.StatusRequest(), timeout=10)
    assert (reply.state, reply.round, reply.active_clients, reply.algorithm) == (
        "training",
        1,
        1,
        "llr",
    )


def test_fetch_model_streams_chunks_that_match_the_digest(
    start_server: Any, raw_client: Any
) -> None:
    wire = WireConfig(chunk_bytes=1000, max_message_bytes=8192)
    server = start_server(wire=wire)
    client = raw_client(server.address, "fetcher", wire=wire)
    reply = client.join()
    chunks = list(
        client.stub.FetchModel(
            pb.FetchModelRequest(client_id=reply.client_id, session=reply.session), timeout=10
        )
    )
    n = reply.settings.num_params
    assert len(chunks) == -(-4 * n // 1000) > 1
    assert [c.offset for c in chunks] == list(range(0, 4 * n, 1000))
    flat = np.frombuffer(b"".join(c.data for c in chunks), dtype="<f4")
    assert flat.size == n
    assert digest(flat) == chunks[-1].model_digest == reply.model_digest


def test_status_command_prints_json_and_fails_without_a_server(start_server: Any) -> None:
    import json
    import socket
    import subprocess
    import sys

    server = start_server(num_clients=2, rounds=3)
    cli = [sys.executable, "-m", "signfed.cli", "status", "--timeout", "10", "--server"]
    done = subprocess.run([*cli, server.address], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "state": "waiting",
        "round": 0,
        "rounds": 3,
        "active_clients": 0,
        "algorithm": "llr",
        "last_accuracy": 0.0,
    }
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
        done = subprocess.run(
            [*cli[:-3], "--timeout", "2", "--server", dead], capture_output=True, text=True
        )
    assert done.returncode == 1 and "UNAVAILABLE" in done.stderr
