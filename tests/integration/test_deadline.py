"""Round deadlines: a straggler neither stalls the round nor corrupts the vote.

Three raw clients; the deadline is 0.5 s with a quorum of one half (two of three).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from common.algorithms import create_aggregator
from common.codec import coin_rng, pack_signs, unpack_signs
from common.config import AggregatorConfig
from common.proto import signfed_pb2 as pb
from tests.integration.processes import read_metrics, wait_for
from tests.integration.raw import admit

DEADLINE_S = 0.5


def _packed(seed: int, n: int) -> np.ndarray:
    """What RawClient.vote(round, seed) sends."""
    return pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))


def _three(server: Any, raw_client: Any) -> list[Any]:
    clients = [raw_client(server.address, name) for name in ("a", "b", "slow")]
    admit(*clients)
    return clients


def test_straggler_is_an_erasure_and_its_late_vote_is_rejected(
    start_server: Any, raw_client: Any, tmp_path: Path
) -> None:
    server = start_server(
        num_clients=3, rounds=3, server={"round_deadline_s": DEADLINE_S, "quorum": 0.5}
    )
    a, b, slow = _three(server, raw_client)
    n = int(a.reply.settings.num_params)
    assert [c.reply.client_id for c in (a, b, slow)] == [0, 1, 2]

    opened = time.monotonic()
    a.vote(0, seed=1)
    b.vote(0, seed=2)
    decisions = [c.receive() for c in (a, b, slow)]  # the straggler gets it too
    waited = time.monotonic() - opened
    assert {d.WhichOneof("kind") for d in decisions} == {"decision"}
    assert waited >= DEADLINE_S * 0.9  # closed by the deadline, not before it

    # The decision is the vote of the two who voted, nothing of the straggler.
    expected = create_aggregator(AggregatorConfig(warmup_rounds=1), n).aggregate(
        np.stack([_packed(1, n), _packed(2, n)]), [0, 1], 0
    )
    assert decisions[0].decision.encoding == pb.SIGN1
    got = np.frombuffer(decisions[0].decision.data, np.uint8)
    assert np.array_equal(unpack_signs(got, n), unpack_signs(expected, n))

    # Its late vote is turned away by a message, and its stream stays open.
    slow.vote(0, seed=3)
    rejected = slow.receive()
    assert rejected.WhichOneof("kind") == "rejected"
    assert rejected.rejected.round == 0
    assert rejected.rejected.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert "after the round closed" in rejected.rejected.reason

    # It catches up: round 1 counts all three, and closes without waiting for a deadline.
    for seed, c in enumerate((a, b, slow), start=10):
        c.vote(1, seed=seed)
    assert all(c.receive().decision.round == 1 for c in (a, b, slow))

    records = wait_for(lambda: read_metrics(tmp_path / "run")[:2], 30, "two round records")
    assert len(records) == 2
    assert records[0]["erasures"] == [2] and records[0]["clients"] == 2
    assert records[0]["round_ms"] >= DEADLINE_S * 1e3 * 0.9
    assert "erasures" not in records[1] and records[1]["clients"] == 3


def test_the_deadline_waits_for_a_quorum(start_server: Any, raw_client: Any) -> None:
    server = start_server(
        num_clients=3, rounds=2, server={"round_deadline_s": DEADLINE_S, "quorum": 0.6}
    )
    a, b, slow = _three(server, raw_client)
    a.vote(0, seed=1)
    time.sleep(DEADLINE_S * 3)  # past the deadline with one vote of the two needed
    assert server.call(lambda: server.running.coordinator.round) == 0
    b.vote(0, seed=2)  # the quorum: the round closes at once
    assert a.receive().decision.round == 0
    assert server.call(lambda: server.running.coordinator.round) == 1
