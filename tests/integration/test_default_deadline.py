"""With no --round-deadline, a member that stays connected and never votes (or sends
half a vote) stalls no one: rounds close on the adaptive deadline, and after three
missed deadlines in a row the member is let go with UNAVAILABLE.

The floor (10 s in production) is lowered here so the test takes seconds."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from server import deadline
from tests.integration.raw import admit

FLOOR_S = 0.4


@pytest.mark.parametrize("partial", [False, True], ids=["silent", "half-a-vote"])
def test_a_member_that_never_votes_is_erased_then_let_go(
    start_server: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch, partial: bool
) -> None:
    monkeypatch.setattr(deadline, "DEADLINE_FLOOR_S", FLOOR_S)
    server = start_server(num_clients=3, rounds=8)  # the default deadline
    assert server.running.coordinator.close_rule.policy.fixed_s is None
    a, b, staller = (raw_client(server.address, n) for n in ("a", "b", "staller"))
    admit(a, b, staller)
    if partial:  # a first chunk of 64 bytes of round 0's vote, and never the rest
        staller.vote(0, seed=9, last=False, crc32=0, data=b"\x00" * 64)

    for t in range(deadline.MAX_MISSED_DEADLINES):
        opened = time.monotonic()
        a.vote(t, seed=2 * t)
        b.vote(t, seed=2 * t + 1)
        assert a.receive().decision.round == t
        assert b.receive().decision.round == t
        assert time.monotonic() - opened >= FLOOR_S * 0.9  # held for the straggler
        assert staller.receive().decision.round == t  # it still hears the decisions

    # Three deadlines missed in a row: its stream ends, and it is out of the cohort.
    assert staller.status_of_stream() == grpc.StatusCode.UNAVAILABLE
    assert server.call(lambda: sorted(server.running.coordinator.cohort)) == [0, 1]

    # The two who vote now close rounds at once: no deadline to wait for.
    opened = time.monotonic()
    t = deadline.MAX_MISSED_DEADLINES
    a.vote(t, seed=1)
    b.vote(t, seed=2)
    assert a.receive().decision.round == t
    assert time.monotonic() - opened < FLOOR_S
