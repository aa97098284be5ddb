"""Streams that hold resources without doing their part are ended: one that never says
who it is, and a member that stops reading its decisions."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from common.proto import signfed_pb2_grpc as pb_grpc
from server import coordinator, servicer
from tests.integration.processes import wait_for


def test_a_silent_train_stream_is_ended(
    start_server: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicer, "ATTACH_TIMEOUT_S", 0.5)
    server = start_server(num_clients=2)
    silent = raw_client(server.address, "silent")
    silent.responses = silent.stub.Train(iter(silent.outbox.get, None), timeout=30)
    started = time.monotonic()
    assert silent.status_of_stream() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 10


def test_a_member_that_stops_reading_is_cut_off(
    start_server: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coordinator, "MAX_BACKLOG", 4)
    server = start_server(
        num_clients=2, rounds=2000, server={"round_deadline_s": 0.02, "quorum": 0.5}
    )
    good, deaf = raw_client(server.address, "good"), raw_client(server.address, "deaf")
    # Its own connection with a small, fixed receive window, so that not reading soon
    # stops the server's writes (the default window grows to megabytes).
    deaf.channel.close()
    deaf.channel = grpc.insecure_channel(
        server.address,
        options=[("grpc.use_local_subchannel_pool", 1), ("grpc.http2.bdp_probe", 0),
                 ("grpc.http2.lookahead_bytes", 2048)],
    )  # fmt: skip
    deaf.stub = pb_grpc.ParameterServerStub(deaf.channel)
    for c in (good, deaf):
        c.join()
        c.open()
    assert good.receive().start.round == 0
    cohort = server.running.coordinator.cohort
    # The deaf member never votes (an erasure each round) and never reads: the transport
    # buffers fill, then its queue; past MAX_BACKLOG it is cut off.
    round_index = 0
    while server.call(lambda: len(cohort)) == 2:
        good.vote(round_index)
        assert good.receive().decision.round == round_index
        round_index += 1
        assert round_index < 1500, "the deaf member was never cut off"
    assert deaf.status_of_stream() == grpc.StatusCode.UNAVAILABLE  # retryable: it rejoins
    # The rounds go on for the one who reads.
    good.vote(round_index)
    assert good.receive().decision.round == round_index
    wait_for(lambda: server.call(lambda: list(cohort)) == [0], 10, "a cohort of one")
