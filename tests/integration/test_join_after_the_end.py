"""A Join after the last round is turned away with UNAVAILABLE (it used to succeed in
the moment between Stop and the server's exit, and only the Attach failed)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.integration.raw import admit


def test_a_join_after_the_run_finished_is_unavailable(start_server: Any, raw_client: Any) -> None:
    server = start_server(num_clients=2, rounds=1)
    a, b = raw_client(server.address, "a"), raw_client(server.address, "b")
    admit(a, b)
    a.vote(0, seed=1)
    b.vote(0, seed=2)
    assert a.receive().decision.round == 0
    assert a.receive().stop.rounds_done == 1
    late = raw_client(server.address, "late")
    with pytest.raises(grpc.RpcError) as refused:
        late.join()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "the run has finished" in (refused.value.details() or "")
