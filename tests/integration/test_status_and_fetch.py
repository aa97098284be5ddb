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
