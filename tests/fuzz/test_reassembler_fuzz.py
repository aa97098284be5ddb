"""Hostile chunk sequences against `common.wire.Reassembler`, the one piece of code
that buffers what a peer sends before anything checks it.

Properties: it only ever raises PayloadError; it never holds more than the expected
ceil(N/8) bytes, whatever the number, order or size of the chunks; what it returns is
exactly the bytes of the chunks it accepted; a valid sequence returns the original
payload. Example budget: tests/fuzz/strategies.py.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.codec import checksum, packed_size
from common.wire import PayloadError, Reassembler
from tests.fuzz.strategies import Chunk, budget, hostile_chunks, payloads, valid_chunks

SIZES = st.sampled_from([0, 1, 7, 8, 9, 63, 64, 65, 200, 4810])  # 4810: the digits MLP


@st.composite
def valid_sequences(draw: st.DrawFn) -> tuple[int, list[bytes], list[list[Chunk]]]:
    """Several payloads of one model size, back to back, each cut its own way."""
    n = draw(SIZES)
    sent = draw(st.lists(payloads(n), min_size=1, max_size=3))
    rounds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=len(sent), max_size=len(sent)))
    return n, sent, [draw(valid_chunks(p, n, r)) for p, r in zip(sent, rounds, strict=True)]


@budget(300)
@given(valid_sequences())
def test_valid_chunks_give_back_exactly_the_payload(case: tuple) -> None:
    n, sent, sequences = case
    assembler = Reassembler(n)
    for payload, chunks in zip(sent, sequences, strict=True):
        results = [assembler.add(*c) for c in chunks]
        assert all(r is None for r in results[:-1])
        assert isinstance(results[-1], np.ndarray) and results[-1].dtype == np.uint8
        assert results[-1].tobytes() == payload
        assert assembler.buffered == 0  # ready for the next payload


@st.composite
def hostile_cases(draw: st.DrawFn) -> tuple[int, list[Chunk]]:
    n = draw(SIZES)
    parts = st.lists(hostile_chunks(n, draw(st.integers(0, 3))), min_size=1, max_size=3)
    return n, [c for chunks in draw(parts) for c in chunks]


@budget(600)
@given(hostile_cases())
def test_hostile_chunks_raise_payload_error_and_never_overfill(case: tuple) -> None:
    n, chunks = case
    assembler = Reassembler(n)
    expected = packed_size(n)
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
            if result is None:
                assert not chunk.last
            else:
                payload = result.tobytes()
                assert payload == b"".join(accepted)
                assert len(payload) == expected and checksum(payload) == chunk.crc32
                assert n % 8 == 0 or payload[-1] >> (n % 8) == 0
                accepted.clear()
        assert assembler.buffered == sum(map(len, accepted)) <= expected


def _retained_bytes(n: int, chunks: object) -> int:
    """Bytes of traced memory a Reassembler still holds after being fed `chunks`
    (an iterator, so the test itself keeps none of them alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        assembler = Reassembler(n)
        baseline = tracemalloc.get_traced_memory()[0]
        for chunk in chunks:  # type: ignore[attr-defined]
            assembler.add(*chunk)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "how",
    ["20000 empty chunks", "2-byte chunks up to the last"],
)
def test_memory_stays_within_the_payload_size(how: str) -> None:
    """The docstring's promise, measured: a sender cannot make the receiver hold more
    than ceil(N/8) bytes, not with empty chunks, not with tiny ones."""
    n = 4810
    size = packed_size(n)
    payload = bytes(range(256)) * 3
    if how == "20000 empty chunks":
        chunks = (Chunk(0, n, 0, b"", False, 0) for _ in range(20_000))
    else:  # every chunk a fresh bytes object, as protobuf hands them over
        chunks = (Chunk(0, n, i, payload[i : i + 2], False, 0) for i in range(0, size - 2, 2))
    assert _retained_bytes(n, chunks) <= size
