"""Every bad input of DESIGN.md gets its status code, and the round completes for the
others: client A behaves, client B misbehaves, A still receives the decision."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest

from common.codecs import get_codec
from common.config import PROTOCOL_VERSION, AggregatorConfig, WireConfig
from common.proto import signfed_pb2 as pb
from common.ternary import ternary_row
from tests.integration.raw import admit


def _both_admitted(server: Any, raw_client: Any) -> tuple[Any, Any]:
    good, bad = raw_client(server.address, "good"), raw_client(server.address, "bad")
    admit(good, bad)
    return good, bad


def _round_completes_for(good: Any) -> None:
    good.vote(0)
    message = good.receive()
    assert message.WhichOneof("kind") == "decision"
    assert message.decision.round == 0


@pytest.mark.parametrize(
    "misbehave,code",
    [
        (lambda c: c.vote(0, data=b"\0" * 3), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c: c.vote(0, num_coords=7), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda c: c.vote(0, crc32=12345), grpc.StatusCode.INVALID_ARGUMENT),
        # A v1 client's Vote parses as an Update with no encoding (0): refused.
        (
            lambda c: c.vote(0, encoding=pb.ENCODING_UNSPECIFIED),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (lambda c: c.vote(1), grpc.StatusCode.FAILED_PRECONDITION),
        (lambda c: (c.vote(0), c.vote(0)), grpc.StatusCode.ALREADY_EXISTS),
        (
            lambda c: c.send(pb.ClientMessage(attach=pb.Attach())),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ],
    ids=[
        "wrong-length",
        "wrong-num-coords",
        "bad-checksum",
        "encoding-unset",
        "wrong-round",
        "duplicate",
        "second-attach",
    ],
)
def test_bad_vote_fails_its_stream_only(
    start_server: Any, raw_client: Any, misbehave: Any, code: grpc.StatusCode
) -> None:
    server = start_server()
    good, bad = _both_admitted(server, raw_client)
    misbehave(bad)
    assert bad.status_of_stream() == code
    _round_completes_for(good)


def test_an_update_in_another_encoding_is_invalid_argument_naming_the_runs(
    start_server: Any, raw_client: Any
) -> None:
    """A well-formed float32 update (right length, right CRC) in an llr run, whose
    updates are sign1: refused for its encoding alone, and the details say which."""
    server = start_server()  # llr
    good, bad = _both_admitted(server, raw_client)
    assert bad.reply.settings.update_encoding == pb.SIGN1
    n, float32 = int(bad.reply.settings.num_params), get_codec("float32")
    bad.update(0, float32.encode(np.random.default_rng(0).standard_normal(n)), float32)
    code, details = bad.end_of_stream()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "sign1" in details, details
    _round_completes_for(good)


def test_oversized_message_is_resource_exhausted(start_server: Any, raw_client: Any) -> None:
    wire = WireConfig(chunk_bytes=1024, max_message_bytes=4096)
    server = start_server(wire=wire)
    good, bad = _both_admitted(server, raw_client)
    bad.vote(0, data=b"\0" * 10_000)
    assert bad.status_of_stream() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _round_completes_for(good)


@pytest.mark.parametrize(
    "first",
    [
        pb.ClientMessage(attach=pb.Attach(client_id=1, session=b"forged")),
        pb.ClientMessage(update=pb.Update(round=0, encoding=pb.SIGN1)),
    ],
    ids=["unknown-session", "vote-first"],
)
def test_upload_before_join(start_server: Any, raw_client: Any, first: Any) -> None:
    server = start_server()
    good = raw_client(server.address, "good")
    good.join()
    good.open()
    intruder = raw_client(server.address, "intruder")
    intruder.open(first)
    assert intruder.status_of_stream() == grpc.StatusCode.FAILED_PRECONDITION
    # The intruder never entered the cohort: a second honest client still starts round 0.
    other = raw_client(server.address, "other")
    other.join()
    other.open()
    assert good.receive().start.round == 0 and other.receive().start.round == 0


def test_an_old_client_is_told_to_upgrade(start_server: Any, raw_client: Any) -> None:
    server = start_server()
    client = raw_client(server.address, "old")
    with pytest.raises(grpc.RpcError) as info:
        client.join(version="signfed.v1")  # the sign-only protocol before typed payloads
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "'signfed.v1' is not supported" in info.value.details()
    assert PROTOCOL_VERSION in info.value.details() and "upgrade the client" in info.value.details()


def test_broken_stream_leaves_the_cohort_and_keeps_its_statistics(
    start_server: Any, raw_client: Any
) -> None:
    server = start_server(rounds=4)
    good, gone = _both_admitted(server, raw_client)
    good.vote(0, seed=1)
    gone.vote(0, seed=2)
    assert good.receive().decision.round == 0
    gone.close()  # the process dies: its stream breaks
    good.vote(1, seed=3)
    message = good.receive()
    assert message.decision.round == 1
    cohort, weights = server.call(
        lambda: (
            sorted(server.running.coordinator.cohort),
            server.running.coordinator.engine.aggregator.client_weight_summary(),
        )
    )
    assert cohort == [good.reply.client_id]
    assert gone.reply.client_id in weights  # its crossing statistics survive for a rejoin


@pytest.mark.parametrize(
    "payload",
    [
        lambda good: good[:-1],  # truncated
        lambda good: good + b"\0",  # a byte too many
        lambda good: b"\xff" * len(good),  # garbage of the right length
        lambda good: b"",  # nothing at all
    ],
    ids=["truncated", "trailing-byte", "garbage", "empty"],
)
def test_a_malformed_ternary_vote_is_invalid_argument(
    start_server: Any, raw_client: Any, payload: Any
) -> None:
    """--zeros abstain: a ternary payload that does not decode (CRC right, content
    wrong) is refused with INVALID_ARGUMENT, and the round completes for the others."""
    server = start_server(aggregator=AggregatorConfig(warmup_rounds=1, zeros="abstain"))
    good, bad = _both_admitted(server, raw_client)
    assert bad.reply.settings.update_encoding == pb.TERNARY
    n, ternary = int(bad.reply.settings.num_params), get_codec("ternary")
    values = np.random.default_rng(0).integers(-1, 2, n).astype(np.float32)
    valid = ternary.encode(ternary_row(values))
    bad.update(0, payload(valid), ternary)
    code, details = bad.end_of_stream()
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    good.update(0, valid, ternary)
    message = good.receive()
    assert message.WhichOneof("kind") == "decision"
    assert message.decision.encoding == pb.TERNARY


@pytest.mark.parametrize("poison", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_float_update_is_refused_and_the_round_goes_on_without_it(
    start_server: Any, raw_client: Any, poison: float
) -> None:
    """FedAvg: an update with a NaN or an infinity (right length, right CRC) gets
    INVALID_ARGUMENT; the round closes on the good client's row alone, so the decision
    is exactly its delta (server lr 1, the mean of one row)."""
    server = start_server(aggregator=AggregatorConfig(algorithm="fedavg"))
    good, bad = _both_admitted(server, raw_client)
    assert bad.reply.settings.update_encoding == pb.FLOAT32
    n, float32 = int(bad.reply.settings.num_params), get_codec("float32")
    row = (np.random.default_rng(1).standard_normal(n) * 1e-3).astype(np.float32)
    poisoned = row.copy()
    poisoned[n // 2] = poison
    bad.update(0, poisoned.astype("<f4").tobytes(), float32)
    code, details = bad.end_of_stream()
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "NaN or infinite" in details
    good.update(0, float32.encode(row), float32)
    message = good.receive()
    assert message.WhichOneof("kind") == "decision" and message.decision.last
    assert np.array_equal(np.frombuffer(message.decision.data, "<f4"), row)
