"""Hostile chunk sequences against `common.wire.Reassembler`, the one piece of code
that buffers what a peer sends before anything checks it.

Properties, for every codec: it only ever raises PayloadError; it never holds more
than the codec's payload size (ceil(N/8) bytes for sign1, 4N or 2N for the dense ones),
whatever the number, order or size of the chunks; what it returns is exactly the row
the bytes of the chunks it accepted stand for, and it returns one only for a payload
the codec accepts; a valid sequence returns the original row. Example budget:
tests/fuzz/strategies.py.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.codec import checksum
from common.codecs import Codec, available, get_codec
from common.wire import PayloadError, Reassembler
from tests.fuzz.strategies import (
    Chunk,
    budget,
    hostile_chunks,
    non_finite,
    payloads,
    valid_chunks,
)

SIZES = st.sampled_from([0, 1, 7, 8, 9, 63, 64, 65, 200, 4810])  # 4810: the digits MLP
# The fixed-size codecs; ternary's size follows its content, and its own fuzz tests
# (tests/unit/test_ternary_codec.py) feed it random, truncated and corrupted payloads.
CODECS = st.sampled_from([get_codec(name) for name in available() if name != "ternary"])


def _row(codec: Codec, payload: bytes) -> np.ndarray:
    """The row a payload stands for, read as the proto's comments describe the wire."""
    if codec.name == "sign1":
        return np.frombuffer(payload, np.uint8)
    if codec.name == "bfloat16":  # float32's top half
        return (np.frombuffer(payload, "<u2").astype("<u4") << 16).view("<f4")
    dtype = {"float32": "<f4", "float16": "<f2"}[codec.name]
    return np.frombuffer(payload, dtype).astype(np.float32)


def _assert_is_row(result: object, codec: Codec, payload: bytes) -> None:
    expected = _row(codec, payload)
    assert isinstance(result, np.ndarray) and result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


@st.composite
def valid_sequences(draw: st.DrawFn) -> tuple[Codec, int, list[bytes], list[list[Chunk]]]:
    """Several payloads of one codec and model size, back to back, each cut its own way."""
    codec, n = draw(CODECS), draw(SIZES)
    sent = draw(st.lists(payloads(n, codec), min_size=1, max_size=3))
    rounds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=len(sent), max_size=len(sent)))
    cuts = [draw(valid_chunks(p, n, r, codec)) for p, r in zip(sent, rounds, strict=True)]
    return codec, n, sent, cuts


@budget(300)
@given(valid_sequences())
def test_valid_chunks_give_back_exactly_the_payload(case: tuple) -> None:
    codec, n, sent, sequences = case
    assembler = Reassembler(n, None, codec)
    for payload, chunks in zip(sent, sequences, strict=True):
        results = [assembler.add(*c) for c in chunks]
        assert all(r is None for r in results[:-1])
        _assert_is_row(results[-1], codec, payload)
        assert codec.encode(results[-1]) == payload  # the row is all the payload said
        assert assembler.buffered == 0  # ready for the next payload


@st.composite
def hostile_cases(draw: st.DrawFn) -> tuple[Codec, int, list[Chunk]]:
    codec, n = draw(CODECS), draw(SIZES)
    parts = st.lists(hostile_chunks(n, draw(st.integers(0, 3)), codec), min_size=1, max_size=3)
    return codec, n, [c for chunks in draw(parts) for c in chunks]


@budget(600)
@given(hostile_cases())
def test_hostile_chunks_raise_payload_error_and_never_overfill(case: tuple) -> None:
    codec, n, chunks = case
    assembler = Reassembler(n, None, codec)
    expected = codec.max_size(n)
    accepted: list[bytes] = []  # data of the chunks accepted since the last payload
    for chunk in chunks:
        before = assembler.buffered
        try:
            result = assembler.add(*chunk)
        except PayloadError:
            # A refused chunk leaves the buffer as it was, or (a bad last chunk) empty.
            assert assembler.buffered in (before, 0)
            if assembler.buffered == 0:
                accepted.clear()
        else:
            accepted.append(chunk.data)
            assert chunk.encoding == codec.wire_id
            if result is None:
                assert not chunk.last
            else:
                payload = b"".join(accepted)
                _assert_is_row(result, codec, payload)
                assert len(payload) == expected and checksum(payload) == chunk.crc32
                if codec.name == "sign1":
                    assert n % 8 == 0 or payload[-1] >> (n % 8) == 0
                else:
                    assert not non_finite(codec.name, payload).any()
                accepted.clear()
        assert assembler.buffered == sum(map(len, accepted)) <= expected


def _retained_bytes(n: int, codec: Codec, chunks: object) -> int:
    """Bytes of traced memory a Reassembler still holds after being fed `chunks`
    (an iterator, so the test itself keeps none of them alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        assembler = Reassembler(n, None, codec)
        baseline = tracemalloc.get_traced_memory()[0]
        for chunk in chunks:  # type: ignore[attr-defined]
            assembler.add(*chunk)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["sign1", "float32"])
@pytest.mark.parametrize(
    "how",
    ["20000 empty chunks", "2-byte chunks up to the last"],
)
def test_memory_stays_within_the_payload_size(how: str, name: str) -> None:
    """The docstring's promise, measured: a sender cannot make the receiver hold more
    than the codec's payload size (602 or 19,240 bytes here), not with empty chunks,
    not with tiny ones."""
    n, codec = 4810, get_codec(name)
    size, wire_id = codec.max_size(n), codec.wire_id
    payload = bytes(range(256)) * (size // 256 + 1)
    if how == "20000 empty chunks":
        chunks = (Chunk(0, n, 0, b"", False, 0, wire_id) for _ in range(20_000))
    else:  # every chunk a fresh bytes object, as protobuf hands them over
        chunks = (
            Chunk(0, n, i, payload[i : i + 2], False, 0, wire_id) for i in range(0, size - 2, 2)
        )
    assert _retained_bytes(n, codec, chunks) <= size
