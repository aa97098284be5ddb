"""The stage the server fuzz tests share: a running round, a hostile peer, and the checks
that the server came through unharmed.

A server for two clients; "good" and "mallory" join and attach, so round 0 is open and
waits for good's vote. The hostile traffic comes from strangers (no session) and from
mallory, whose every new stream replaces her link: she drops out of the cohort and
waits, pending, for a round boundary that only good's vote can bring. So no hostile
message can legitimately close a round, and the model must stay x^0 throughout.
Afterwards good and a freshly attached mallory must complete two rounds, and the master
model must be exactly x^0 stepped by the two decisions they received.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pytest

from common.codec import unpack_signs
from common.codecs import get_codec
from common.config import WireConfig
from common.params import digest
from common.proto import signfed_pb2 as pb
from common.step import sign_step
from common.wire import Reassembler
from tests.fuzz.hostile import Hostile, Peer
from tests.integration.raw import admit

# Small chunks (a 602-byte payload travels in 3) and a small message limit, so that
# chunking and RESOURCE_EXHAUSTED are both within reach of the fuzzer.
WIRE = WireConfig(chunk_bytes=256, max_message_bytes=4096)
NUM_CLIENTS = 2  # good and mallory: the cohort is full, a stranger's Join is refused


@dataclass
class Arena:
    server: Any  # tests.integration.conftest.ServerHandle
    good: Peer
    mallory: Peer
    hostile: Hostile
    flat0: np.ndarray  # (N,) float32, x^0 as FetchModel served it

    @property
    def num_params(self) -> int:
        return int(self.good.reply.settings.num_params)

    def coordinator_state(self) -> dict[str, Any]:
        c = self.server.running.coordinator
        return self.server.call(  # type: ignore[no-any-return]
            lambda: {
                "round": c.master.round,
                "digest": c.master.digest,
                "failed": c.failed,
                "state": c.state,
                "cohort": set(c.cohort),
                "pending": set(c.pending),
                "votes": len(c.votes),
            }
        )


@pytest.fixture
def arena(start_server: Any) -> Any:
    server = start_server(wire=WIRE, num_clients=NUM_CLIENTS, rounds=5)
    good, mallory = Peer(server.address, "good"), Peer(server.address, "mallory")
    admit(good, mallory)
    hostile = Hostile(server.address)
    yield Arena(server, good, mallory, hostile, good.fetch_model())
    for closable in (good, mallory, hostile):
        closable.close()


def assert_unharmed(arena: Arena, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing hostile closed a round, moved the model, failed the run or was logged
    as an error; the server still answers."""
    state = arena.coordinator_state()
    assert (state["round"], state["digest"]) == (0, digest(arena.flat0))
    assert (state["failed"], state["state"], state["votes"]) == (None, "training", 0)
    good_id, mallory_id = arena.good.reply.client_id, arena.mallory.reply.client_id
    assert good_id in state["cohort"] and state["cohort"] | state["pending"] <= {
        good_id,
        mallory_id,
    }
    reply = pb.StatusReply.FromString(
        arena.hostile.channel.unary_unary("/signfed.v1.ParameterServer/Status")(b"", timeout=20)
    )
    assert (reply.state, reply.round) == ("training", 0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def receive_decision(peer: Peer, num_params: int) -> tuple[int, np.ndarray]:
    """(round, (N/8,) packed signs) of the next Decision, reassembled from its chunks;
    every chunk must say SIGN1 (the arena's run is llr)."""
    assert peer.reply.settings.decision_encoding == pb.SIGN1
    assembler = Reassembler(num_params, None, get_codec("sign1"))
    while True:
        message = peer.receive()
        assert message.WhichOneof("kind") == "decision", message
        d = message.decision
        packed = assembler.add(d.round, d.num_coords, d.offset, d.data, d.last, d.crc32, d.encoding)
        if packed is not None:
            return d.round, packed


def _wait_until_mallory_is_gone(arena: Arena, timeout_s: float = 10.0) -> None:
    """End mallory's first stream, and wait until the server has seen her last one end
    (a dropped call ends on the client first): a Join under the name of a client whose
    stream is live is refused (ABORTED)."""
    arena.mallory.close()
    mallory_id = arena.mallory.reply.client_id
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = arena.coordinator_state()
        if mallory_id not in state["cohort"] | state["pending"]:
            return
        time.sleep(0.02)
    raise AssertionError(f"mallory's stream still live {timeout_s:g} s after her last call")


def assert_pair_completes_rounds(arena: Arena) -> None:
    """good and a re-attached mallory finish rounds 0 and 1; the master model is x^0
    stepped by exactly those two decisions."""
    n, run = arena.num_params, arena.server.running.coordinator.run
    _wait_until_mallory_is_gone(arena)
    mallory = Peer(arena.server.address, "mallory")
    mallory.join()
    mallory.open()  # pending: enters at the next boundary
    try:
        arena.good.vote(0, seed=1)
        round0, decision0 = receive_decision(arena.good, n)
        assert round0 == 0
        assert mallory.receive().start.round == 1
        arena.good.vote(1, seed=2)
        mallory.vote(1, seed=3)
        round1, decision1 = receive_decision(arena.good, n)
        mallory_round, mallory_decision = receive_decision(mallory, n)
        assert mallory_round == 1 and np.array_equal(mallory_decision, decision1)
    except grpc.RpcError as exc:  # say which call failed, not just "RpcError"
        raise AssertionError(f"honest clients failed: {exc.code()} {exc.details()}") from exc
    finally:
        mallory.close()
    assert round1 == 1
    replica = sign_step(arena.flat0, unpack_signs(decision0, n), run.learning_rate_at(0))
    replica = sign_step(replica, unpack_signs(decision1, n), run.learning_rate_at(1))
    state = arena.coordinator_state()
    assert (state["round"], state["digest"], state["failed"]) == (2, digest(replica), None)
