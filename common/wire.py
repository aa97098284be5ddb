"""Protocol plumbing shared by both sides: gRPC options, chunking, byte accounting.

The gRPC message-size limits are set here and nowhere else. A payload (an update or
a decision, in a codec of common/codecs.py) larger than `chunk_bytes` travels as
several messages of the same round; the receiver reassembles it with `Reassembler`,
which checks the encoding, offsets, the total length, the CRC-32 and the codec's rules
before anything reaches the maths.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from common.codec import checksum
from common.codecs import Codec, PayloadError
from common.config import WireConfig
from common.proto import signfed_pb2 as pb

# gRPC frames every message with 1 compression flag byte and a 4-byte length.
GRPC_FRAME_BYTES = 5


def grpc_options(wire: WireConfig) -> list[tuple[str, int]]:
    """Channel and server options: the one place message-size limits are set."""
    options = [
        ("grpc.max_receive_message_length", wire.max_message_bytes),
        ("grpc.max_send_message_length", wire.max_message_bytes),
    ]
    if wire.keepalive_s:
        # Both sides ping an idle connection: a dead peer (a crashed machine, a frozen
        # process) is noticed within keepalive + timeout, and its stream ends, so the
        # server drops it from the cohort and the client reconnects. A client computing
        # a large batch is idle for seconds; pings also keep NATs from dropping it.
        every_ms = int(wire.keepalive_s * 1000)
        options += [
            ("grpc.keepalive_time_ms", every_ms),
            ("grpc.keepalive_timeout_ms", int(wire.keepalive_timeout_s * 1000)),
            # Recent gRPC cores time out an unanswered ping by this one (default 1 min).
            ("grpc.http2.ping_timeout_ms", int(wire.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            # The server's side of the contract: accept the peer's pings this often
            # (gRPC's default, 5 minutes, would answer ours with GOAWAY "too_many_pings").
            ("grpc.http2.min_ping_interval_without_data_ms", every_ms // 2),
        ]
    return options


def wire_size(message: object) -> int:
    """Bytes a protobuf message occupies on the stream, gRPC framing included."""
    return message.ByteSize() + GRPC_FRAME_BYTES  # type: ignore[attr-defined, no-any-return]


def chunk_spans(total: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, stop) byte spans covering `total` bytes; one empty span for total == 0."""
    if total == 0:
        yield 0, 0
        return
    for start in range(0, total, chunk_bytes):
        yield start, min(start + chunk_bytes, total)


def _chunk_fields(
    round_index: int, total: int, codec: Codec, num_coords: int, chunk_bytes: int, crc: int
) -> Iterator[tuple[dict[str, Any], int, int]]:
    """Each chunk's fields shared by Update and Decision but its data, with the (start,
    stop) span of the data; the CRC rides on the last chunk."""
    spans = list(chunk_spans(total, chunk_bytes))
    for i, (start, stop) in enumerate(spans):
        last = i == len(spans) - 1
        fields = {
            "round": round_index,
            "num_coords": num_coords,
            "offset": start,
            "last": last,
            "crc32": crc if last else 0,
            "encoding": codec.wire_id,
        }
        yield fields, start, stop


def _payload_chunks(
    round_index: int, payload: bytes, codec: Codec, num_coords: int, chunk_bytes: int
) -> list[dict[str, Any]]:
    """The fields shared by Update and Decision, one dict per chunk, data included."""
    chunks = _chunk_fields(
        round_index, len(payload), codec, num_coords, chunk_bytes, checksum(payload)
    )
    return [{**fields, "data": payload[start:stop]} for fields, start, stop in chunks]


def update_messages(
    round_index: int, payload: bytes, codec: Codec, num_coords: int, chunk_bytes: int
) -> list[pb.ClientMessage]:
    """An encoded update as one or more Update messages."""
    return [
        pb.ClientMessage(update=pb.Update(**fields))
        for fields in _payload_chunks(round_index, payload, codec, num_coords, chunk_bytes)
    ]


def round_start(round_index: int, model_digest: bytes) -> pb.ServerMessage:
    """RoundStart: admits a client into the cohort at `round_index`."""
    return pb.ServerMessage(start=pb.RoundStart(round=round_index, model_digest=model_digest))


def decision_messages(
    round_index: int,
    payload: bytes,
    codec: Codec,
    num_coords: int,
    chunk_bytes: int,
    model_digest: bytes = b"",
) -> list[pb.ServerMessage]:
    """An encoded decision as one or more Decision messages; the digest rides on the last."""
    return [
        pb.ServerMessage(
            decision=pb.Decision(**fields, model_digest=model_digest if fields["last"] else b"")
        )
        for fields in _payload_chunks(round_index, payload, codec, num_coords, chunk_bytes)
    ]


def messages_size(messages: Iterable[object]) -> int:
    """Bytes a list of messages occupies on the stream."""
    return sum(wire_size(m) for m in messages)


def _varint_size(value: int) -> int:
    return max(1, -(-value.bit_length() // 7))


def payload_size(
    round_index: int,
    payload_bytes: int,
    codec: Codec,
    num_coords: int,
    chunk_bytes: int,
    *,
    decision: bool = False,
    model_digest: bytes = b"",
) -> int:
    """What `update_messages` (or `decision_messages`) of a payload of `payload_bytes`
    occupy on the stream, computed without copying a payload into messages (the
    simulation counts a float32 model's worth per client and round). Each chunk is its
    message's fields with empty data, plus the data field (tag, length, bytes) and the
    enclosing oneof field. The CRC is taken as non-zero; a payload whose CRC-32 is 0
    (one in 2^32) travels 5 bytes lighter."""
    total = 0
    chunks = _chunk_fields(round_index, payload_bytes, codec, num_coords, chunk_bytes, crc=1)
    for fields, start, stop in chunks:
        if decision:
            digest = model_digest if fields["last"] else b""
            inner = pb.Decision(**fields, model_digest=digest).ByteSize()
        else:
            inner = pb.Update(**fields).ByteSize()
        n = stop - start
        inner += 1 + _varint_size(n) + n if n else 0  # data = 6: a one-byte tag
        total += 1 + _varint_size(inner) + inner + GRPC_FRAME_BYTES  # the oneof field
    return total


class Reassembler:
    """Collects the chunks of one payload of `num_coords` coordinates in `codec`.

    Memory is bounded by the codec's largest payload: a sender cannot make the receiver
    buffer more than `codec.max_size(N)` bytes per stream. Chunks are copied into one
    buffer of exactly that size, not kept as a list: a list grows with the number of
    chunks, and empty chunks are accepted, so it would grow without bound.
    """

    def __init__(self, num_coords: int, chunk_bytes: int | None, codec: Codec) -> None:
        self.num_coords = num_coords
        self.codec = codec
        self.expected = codec.max_size(num_coords)
        self._buffer = bytearray(self.expected)  # the payload so far
        self._received = 0
        self._chunks = 0  # chunks of the current payload so far
        # With the sender's chunk size known, a payload has at most ceil(size / chunk)
        # chunks: a sender of endless empty or tiny chunks is refused, not served.
        self.max_chunks = max(1, -(-self.expected // chunk_bytes)) if chunk_bytes else None
        self.round: int | None = None

    @property
    def buffered(self) -> int:
        """Bytes of the current payload received so far (never more than `expected`)."""
        return self._received

    def add(
        self,
        round_index: int,
        num_coords: int,
        offset: int,
        data: bytes,
        last: bool,
        crc32: int,
        encoding: int,
    ) -> np.ndarray | None:
        """Add one chunk; returns the decoded row (codec's form) once the last chunk is in."""
        payload = self.add_bytes(round_index, num_coords, offset, data, last, crc32, encoding)
        return None if payload is None else self.codec.decode(payload, self.num_coords)

    def add_bytes(
        self,
        round_index: int,
        num_coords: int,
        offset: int,
        data: bytes,
        last: bool,
        crc32: int,
        encoding: int,
    ) -> bytes | None:
        """`add`, returning the payload's bytes (checksummed, not yet decoded)."""
        if encoding != self.codec.wire_id:
            raise PayloadError(
                f"payload in encoding {encoding}, this run's is {self.codec.name} "
                f"({self.codec.wire_id}); a signfed.v1 client must be upgraded"
            )
        if num_coords != self.num_coords:
            raise PayloadError(
                f"payload declares {num_coords} coordinates, the model has {self.num_coords}"
            )
        if self.round is not None and round_index != self.round:
            raise PayloadError(
                f"chunk for round {round_index} interleaved with round {self.round}'s payload"
            )
        if offset != self._received:
            raise PayloadError(f"chunk at byte {offset}, expected byte {self._received}")
        if self._received + len(data) > self.expected:
            raise PayloadError(
                f"payload exceeds {self.expected} bytes for {self.num_coords} coordinates "
                f"in {self.codec.name}"
            )
        if self.max_chunks is not None and self._chunks >= self.max_chunks:
            raise PayloadError(
                f"payload of {self.expected} bytes sent in more than {self.max_chunks} chunks "
                "(send chunks of the server's chunk_bytes)"
            )
        self._chunks += 1
        self.round = round_index
        self._buffer[offset : offset + len(data)] = data
        self._received += len(data)
        if not last:
            return None
        payload = bytes(memoryview(self._buffer)[: self._received])
        self._received, self._chunks, self.round = 0, 0, None
        if checksum(payload) != crc32:
            raise PayloadError(
                f"checksum mismatch: payload CRC-32 {checksum(payload):#010x}, "
                f"message says {crc32:#010x}"
            )
        return payload


def model_chunks(
    round_index: int, flat_bytes: bytes, num_params: int, digest: bytes, chunk_bytes: int
) -> Iterator[pb.ModelChunk]:
    """The float32 model as ModelChunk messages; the digest rides on the last."""
    spans = list(chunk_spans(len(flat_bytes), chunk_bytes))
    for i, (start, stop) in enumerate(spans):
        last = i == len(spans) - 1
        yield pb.ModelChunk(
            round=round_index,
            num_params=num_params,
            offset=start,
            data=flat_bytes[start:stop],
            last=last,
            model_digest=digest if last else b"",
        )
