"""Well-formed messages at the wrong moment: a Goodbye long before Stop, and a vote
whose stream breaks in the same event-loop tick.

Both were bugs of server/coordinator.py found by fuzzing: an early Goodbye ended the
wait for final digests, and a vote whose stream broke in the same tick failed the run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from common.codec import coin_rng, pack_signs
from common.proto import signfed_pb2 as pb
from tests.integration.raw import admit


def _wait_until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_a_goodbye_before_stop_does_not_cut_the_wait_for_final_digests(
    start_server: Any, raw_client: Any
) -> None:
    server = start_server(num_clients=2, rounds=1)
    coordinator = server.running.coordinator
    good, early = raw_client(server.address, "good"), raw_client(server.address, "early")
    admit(good, early)
    early.send(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=b"\0" * 32)))  # no Stop yet
    good.vote(0, seed=1)
    early.vote(0, seed=2)
    assert good.receive().decision.round == 0
    assert good.receive().WhichOneof("kind") == "stop"
    # good holds x^1 and has not reported it: the server must wait for its digest.
    time.sleep(0.5)
    assert not server.call(lambda: coordinator.done.is_set())
    master_digest = server.call(lambda: coordinator.master.digest)
    good.send(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=master_digest)))
    early.close()  # hangs up: nothing more to wait for from it
    assert _wait_until(lambda: server.call(lambda: coordinator.done.is_set()), 5.0)
    assert server.call(lambda: coordinator.final_digests[good.reply.client_id]) == master_digest


def test_a_vote_then_a_broken_stream_in_one_loop_tick_does_not_fail_the_run(
    start_server: Any, raw_client: Any
) -> None:
    server = start_server(num_clients=1, rounds=3)
    coordinator = server.running.coordinator
    solo = raw_client(server.address, "solo")
    reply = solo.join()
    n = int(reply.settings.num_params)
    packed = pack_signs(np.random.default_rng(0).standard_normal(n), coin_rng(0))

    def vote_then_vanish() -> None:
        link = coordinator.attach(reply.client_id)  # alone: admitted to round 0 at once
        coordinator.vote(link, 0, packed)  # the round is complete: its close is scheduled
        coordinator.detach(link)  # the stream breaks before that close has run

    server.call(vote_then_vanish)
    _wait_until(lambda: server.call(lambda: coordinator.failed or coordinator.round), 2.0)
    assert server.call(lambda: (coordinator.failed, coordinator.state)) == (None, "training")
    # The client comes back and the run goes on from wherever the vote left it.
    solo.join()
    solo.open()
    start = solo.receive().start
    solo.vote(start.round)
    assert solo.receive().decision.round == start.round
