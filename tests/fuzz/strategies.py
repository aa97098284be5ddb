"""Hypothesis strategies and the example budget shared by the fuzz tests.

Budget: each test names its default number of examples, sized so the whole fuzz suite
stays under about a minute on a 2-core CI machine, and runs derandomized (the same
examples every time, no example database), so a CI failure reproduces locally as is.
SIGNFED_FUZZ_EXAMPLES=N gives every fuzz test N examples drawn from a fresh random
seed instead, for longer local runs:

    SIGNFED_FUZZ_EXAMPLES=5000 .venv/bin/pytest -q tests/fuzz
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from common.codec import checksum, packed_size
from common.codecs import Codec, get_codec

EXAMPLES_OVERRIDE = int(os.environ.get("SIGNFED_FUZZ_EXAMPLES") or 0)

UINT32 = st.integers(min_value=0, max_value=2**32 - 1)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
NAME_ALPHABET = string.ascii_letters + string.digits + "._-"  # common/names.py's rule


def budget(examples: int) -> settings:
    """Hypothesis settings for one fuzz test whose default is `examples` examples."""
    return settings(
        max_examples=EXAMPLES_OVERRIDE or examples,
        derandomize=not EXAMPLES_OVERRIDE,
        database=None,
        deadline=None,  # a loaded CI machine makes single examples slow, not wrong
        # The server tests share one running server across examples on purpose.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


# ---- protobuf-shaped bytes -----------------------------------------------------------
# Random bytes mostly fail to parse at the first byte; well-formed records with random
# field numbers and wire types get past the framing and reach the typed fields.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _record(field_number: int, wire_type: int, value: Any) -> bytes:
    tag = _varint(field_number << 3 | wire_type)
    if wire_type == 0:
        return tag + _varint(value)
    if wire_type == 2:
        return tag + _varint(len(value)) + value
    return tag + value  # fixed64 (1) / fixed32 (5): value is already 8 / 4 bytes


def _records(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    one = st.one_of(
        st.builds(_record, st.integers(1, 9), st.just(0), UINT64),
        st.builds(_record, st.integers(1, 9), st.just(2), children),
        st.builds(_record, st.integers(1, 9), st.just(1), st.binary(min_size=8, max_size=8)),
        st.builds(_record, st.integers(1, 9), st.just(5), st.binary(min_size=4, max_size=4)),
    )
    return st.lists(one, max_size=6).map(b"".join)


def protobuf_shaped() -> st.SearchStrategy[bytes]:
    """Well-framed protobuf records, nested, with random numbers, types and contents."""
    leaves = st.one_of(st.binary(max_size=40), st.text(max_size=20).map(str.encode))
    return st.recursive(leaves, _records, max_leaves=12)


def mutated(template: bytes) -> st.SearchStrategy[bytes]:
    """`template` with a few bytes flipped, cut, inserted or dropped."""

    @st.composite
    def _mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(template)
        for _ in range(draw(st.integers(1, 4))):
            where = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
            if op == "flip" and where < len(data):
                data[where] ^= draw(st.integers(1, 255))
            elif op == "insert":
                data[where:where] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete":
                del data[where : where + draw(st.integers(1, 4))]
            elif op == "truncate":
                del data[where:]
        return bytes(data)

    return _mutate()


def request_bytes(template: bytes) -> st.SearchStrategy[bytes]:
    """Bytes aimed at a parser: random, protobuf-shaped, or a mutated valid message."""
    return st.one_of(st.binary(max_size=64), protobuf_shaped(), mutated(template))


def decodes(parse: Callable[[bytes], Any], data: bytes) -> bool:
    try:
        parse(data)
    except DecodeError:
        return False
    return True


# ---- Join fields -------------------------------------------------------------------------


def client_names() -> st.SearchStrategy[str]:
    """Names a Join may carry: valid ones (empty included), over-long ones of allowed
    characters, and any text (non-ASCII, spaces, ':', control characters)."""
    return st.one_of(
        st.text(NAME_ALPHABET, max_size=64),
        st.text(NAME_ALPHABET, min_size=65, max_size=300),
        st.text(max_size=30),
    )


def requested_ids(capacity: int) -> st.SearchStrategy[int | None]:
    """A Join's requested_id: unset (None), any int32, or one near the edges."""
    edges = [-(2**31), -2, -1, 0, capacity - 1, capacity]
    return st.one_of(st.none(), st.sampled_from(edges), INT32)


# ---- chunked payloads ------------------------------------------------------------------


SIGN1 = get_codec("sign1")
# The dense wire formats, restated from the proto's comments rather than taken from
# common/codecs.py: (little-endian unsigned word, exponent bits). A value is NaN or
# infinite exactly when all its exponent bits are set.
DENSE_WORDS = {
    "float32": ("<u4", 0x7F800000),
    "float16": ("<u2", 0x7C00),
    "bfloat16": ("<u2", 0x7F80),
}


class Chunk(NamedTuple):
    """One Update/Decision chunk, in Reassembler.add's argument order."""

    round_index: int
    num_coords: int
    offset: int
    data: bytes
    last: bool
    crc32: int
    encoding: int


def clean_payload(raw: bytes, num_coords: int) -> bytes:
    """`raw` cut to ceil(N/8) bytes with the padding bits past coordinate N cleared."""
    payload = bytearray(raw[: packed_size(num_coords)])
    if num_coords % 8:
        payload[-1] &= (1 << (num_coords % 8)) - 1
    return bytes(payload)


def non_finite(codec_name: str, payload: bytes) -> np.ndarray:
    """(N,) bool: which values of a dense payload are NaN or infinite."""
    word, exponent = DENSE_WORDS[codec_name]
    return (np.frombuffer(payload, word) & exponent) == exponent  # type: ignore[no-any-return]


def finite_payload(codec_name: str, raw: bytes) -> bytes:
    """`raw` (whole words) with every NaN or infinity made finite: the lowest exponent
    bit cleared, the rest of the word (sign, mantissa) kept as drawn."""
    word, exponent = DENSE_WORDS[codec_name]
    values = np.frombuffer(raw, word).copy()
    lowest = exponent & -exponent
    values[non_finite(codec_name, raw)] &= ~np.array(lowest, word)
    return values.tobytes()


@st.composite
def payloads(draw: st.DrawFn, num_coords: int, codec: Codec = SIGN1) -> bytes:
    """A valid payload of `codec`: any bits that it accepts."""
    size = codec.max_size(num_coords)
    raw = draw(st.binary(min_size=size, max_size=size))
    if codec.name == "sign1":
        return clean_payload(raw, num_coords)
    return finite_payload(codec.name, raw)


@st.composite
def valid_chunks(
    draw: st.DrawFn, payload: bytes, num_coords: int, round_index: int, codec: Codec = SIGN1
) -> list[Chunk]:
    """The payload cut at random points (not necessarily evenly), CRC on the last chunk."""
    cuts: list[int] = []
    if len(payload) > 1:
        inner = st.integers(1, len(payload) - 1)
        cuts = sorted(draw(st.sets(inner, max_size=min(12, len(payload) - 1))))
    bounds = [0, *cuts, len(payload)]
    spans = list(pairwise(bounds))
    crc = checksum(payload)
    return [
        Chunk(round_index, num_coords, a, payload[a:b], i == len(spans) - 1, crc, codec.wire_id)
        for i, (a, b) in enumerate(spans)
    ]


def _mutate_field(chunk: Chunk, field: str, draw: st.DrawFn) -> Chunk:
    if field == "round_index":
        value: Any = draw(st.one_of(UINT32, st.just(min(chunk.round_index + 1, 2**32 - 1))))
    elif field == "num_coords":
        off_by_one = [max(chunk.num_coords - 1, 0), min(chunk.num_coords + 1, 2**64 - 1)]
        value = draw(st.one_of(UINT64, st.sampled_from(off_by_one)))
    elif field == "offset":
        nearby = st.integers(max(chunk.offset - 3, 0), min(chunk.offset + 3, 2**64 - 1))
        value = draw(st.one_of(UINT64, nearby))
    elif field == "last":
        value = not chunk.last
    elif field == "crc32":
        value = draw(UINT32)
    elif field == "encoding":  # another codec's, unset (a v1 Vote), or any enum number
        value = draw(st.one_of(st.integers(0, 4), INT32))
    else:  # data: flip a byte, cut it short, or make it longer
        data = bytearray(chunk.data)
        how = draw(st.sampled_from(["flip", "cut", "extend"]))
        if how == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[draw(st.integers(0, len(data))) :]
        else:
            data += draw(st.binary(min_size=1, max_size=16))
        value = bytes(data)
    return chunk._replace(**{field: value})


def _plant_non_finite(draw: st.DrawFn, payload: bytes, codec_name: str) -> bytes:
    """One value of a dense payload replaced by NaN or an infinity."""
    word, exponent = DENSE_WORDS[codec_name]
    values = np.frombuffer(payload, word).copy()
    mantissa = draw(st.sampled_from([0, 1]))  # 0: infinity, 1: a NaN
    sign = draw(st.sampled_from([0, 1])) << (8 * np.dtype(word).itemsize - 1)
    values[draw(st.integers(0, len(values) - 1))] = exponent | mantissa | sign
    return values.tobytes()


@st.composite
def hostile_chunks(
    draw: st.DrawFn, num_coords: int, round_index: int = 0, codec: Codec = SIGN1
) -> list[Chunk]:
    """A valid chunk sequence with fields mutated and chunks dropped, repeated, swapped
    or inserted; sometimes left valid, so acceptance is exercised too."""
    payload = draw(payloads(num_coords, codec))
    if draw(st.integers(0, 9)) == 0:  # content the codec must refuse, CRC to match
        if codec.name == "sign1" and num_coords % 8:  # a set padding bit
            payload = payload[:-1] + bytes([payload[-1] | 0x80])
        elif codec.name != "sign1" and payload:
            payload = _plant_non_finite(draw, payload, codec.name)
    chunks = draw(valid_chunks(payload, num_coords, round_index, codec))
    fields = ["round_index", "num_coords", "offset", "data", "last", "crc32", "encoding"]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["field", "field", "drop", "repeat", "swap", "insert"]))
        i = draw(st.integers(0, len(chunks) - 1)) if chunks else 0
        if op == "field" and chunks:
            chunks[i] = _mutate_field(chunks[i], draw(st.sampled_from(fields)), draw)
        elif op == "drop" and chunks:
            del chunks[i]
        elif op == "repeat" and chunks:
            chunks.insert(i, chunks[i])
        elif op == "swap" and len(chunks) > 1:
            j = draw(st.integers(0, len(chunks) - 1))
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif op == "insert":
            size = codec.max_size(num_coords)
            chunks.insert(
                i,
                Chunk(
                    draw(st.one_of(st.just(round_index), UINT32)),
                    draw(st.one_of(st.just(num_coords), UINT64)),
                    draw(st.one_of(st.integers(0, size + 2), UINT64)),
                    draw(st.binary(max_size=size + 2)),
                    draw(st.booleans()),
                    draw(UINT32),
                    draw(st.one_of(st.just(codec.wire_id), st.integers(0, 4))),
                ),
            )
    return chunks
