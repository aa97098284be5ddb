"""The server's limits, shown over the wire: message size, cohort size, payload size.

Already covered elsewhere, so not repeated here: an oversized message on Train
(tests/integration/test_bad_input.py) and a single too-short vote chunk (idem), and
Membership's capacity rule as a unit (tests/unit/test_membership.py).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from common.codec import coin_rng, pack_signs, packed_size
from common.codecs import get_codec
from common.config import PROTOCOL_VERSION, WireConfig
from common.proto import signfed_pb2 as pb
from common.wire import update_messages
from tests.fuzz.hostile import Hostile

Code = grpc.StatusCode
WIRE = WireConfig(chunk_bytes=256, max_message_bytes=2048)


def _padded(size: int) -> bytes:
    """A message of exactly `size` bytes that every request type parses: one unknown
    length-delimited field 15 (tag 0x7a), which parsers skip."""
    for prefix in range(2, 6):  # tag byte + a varint length of 1..4 bytes
        body = size - prefix
        length = bytearray()
        value = body
        while True:
            length.append((value & 0x7F) | (0x80 if value >> 7 else 0))
            value >>= 7
            if not value:
                break
        if 1 + len(length) == prefix:
            return b"\x7a" + bytes(length) + b"x" * body
    raise ValueError(size)


@pytest.mark.parametrize("method", ["Join", "FetchModel", "Status"])
def test_a_request_over_max_message_bytes_is_resource_exhausted(
    start_server: Any, method: str
) -> None:
    """The limit is gRPC's, set once in common/wire.py: a request of exactly
    max_message_bytes is read (and answered on its merits), one byte more is not."""
    server = start_server(wire=WIRE)
    hostile = Hostile(server.address)
    limit = WIRE.max_message_bytes
    assert [len(_padded(limit)), len(_padded(limit + 1))] == [limit, limit + 1]
    try:
        at_limit = hostile.call(method, _padded(limit))
        over = hostile.call(method, _padded(limit + 1))
    finally:
        hostile.close()
    merits = {"Join": Code.FAILED_PRECONDITION, "FetchModel": Code.FAILED_PRECONDITION}
    assert at_limit == merits.get(method, Code.OK)  # no version, no session; Status: OK
    assert over == Code.RESOURCE_EXHAUSTED


def _join(stub: Any, name: str, requested_id: int = -1) -> Code:
    request = pb.JoinRequest(
        protocol_version=PROTOCOL_VERSION, client_name=name, requested_id=requested_id
    )
    try:
        stub.Join(request, timeout=20)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return Code.OK


def test_joins_beyond_the_cohort_are_resource_exhausted(start_server: Any, raw_client: Any) -> None:
    server = start_server(num_clients=3)
    stub = raw_client(server.address, "unused").stub
    assert [_join(stub, name) for name in ("a", "b", "c")] == [Code.OK] * 3
    assert _join(stub, "d") == Code.RESOURCE_EXHAUSTED
    assert _join(stub, "e", requested_id=1) == Code.RESOURCE_EXHAUSTED
    assert _join(stub, "") == Code.RESOURCE_EXHAUSTED  # nameless: a new client too
    # Members rejoin (a restart) without taking another place; the cohort stays full.
    assert [_join(stub, name) for name in ("c", "a", "b")] == [Code.OK] * 3
    assert _join(stub, "d") == Code.RESOURCE_EXHAUSTED


def test_a_vote_longer_than_the_model_needs_is_invalid_argument(
    start_server: Any, raw_client: Any
) -> None:
    """All chunks of a correct payload, none marked last, then one byte more: refused at
    that byte, and the round goes on for the honest client."""
    server = start_server(wire=WIRE)
    good = raw_client(server.address, "good", wire=WIRE)
    bad = raw_client(server.address, "bad", wire=WIRE)
    for c in (good, bad):
        c.join()
        c.open()
    for c in (good, bad):
        assert c.receive().start.round == 0
    n = int(bad.reply.settings.num_params)
    packed = pack_signs(coin_rng(5).standard_normal(n), coin_rng(5))
    chunks = update_messages(0, packed.tobytes(), get_codec("sign1"), n, WIRE.chunk_bytes)
    assert len(chunks) == -(-packed_size(n) // WIRE.chunk_bytes) > 1
    for message in chunks:
        message.update.last = False
        bad.send(message)
    extra = pb.Update(
        round=0, num_coords=n, offset=packed_size(n), last=True, data=b"\0", encoding=pb.SIGN1
    )
    bad.send(pb.ClientMessage(update=extra))
    assert bad.status_of_stream() == Code.INVALID_ARGUMENT
    good.vote(0)
    assert good.receive().decision.round == 0


def test_a_requested_id_beyond_the_cohort_is_invalid_argument(
    start_server: Any, raw_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(num_clients=2, batch_sizes=(4, 8))
    stub = raw_client(server.address, "unused").stub
    codes = []
    for batch_size in (0, 4):
        request = pb.JoinRequest(
            protocol_version=PROTOCOL_VERSION,
            client_name=f"far-{batch_size}",
            batch_size=batch_size,
            requested_id=7,
        )
        try:
            stub.Join(request, timeout=20)
            codes.append(Code.OK)
        except grpc.RpcError as exc:
            codes.append(exc.code())
    assert codes == [Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _join(stub, "near", requested_id=1) == Code.OK  # ids inside the cohort still work
