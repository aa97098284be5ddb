import numpy as np
import pytest

import common.codecs
from common.codec import checksum, coin_rng, pack_signs, packed_size
from common.codecs import Codec, get_codec
from common.proto import signfed_pb2 as pb
from common.wire import (
    PayloadError,
    Reassembler,
    decision_messages,
    messages_size,
    payload_size,
    update_messages,
    wire_size,
)

SIGN1 = get_codec("sign1")
CODECS = ("sign1", "float32", "float16", "bfloat16")


def _packed(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return pack_signs(values, coin_rng(seed))


def _row(codec: Codec, n: int, seed: int = 0) -> np.ndarray:
    """A row of `codec` that its wire represents exactly (what a receiver must get back)."""
    if codec.name == "sign1":
        return _packed(n, seed)
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return codec.roundtrip(values, n)


def _reassemble(assembler: Reassembler, messages: list, kind: str) -> list:
    """What `assembler.add` returns for each message's `kind` (update or decision) part."""
    results = []
    for m in messages:
        part = getattr(m, kind)
        results.append(
            assembler.add(
                part.round,
                part.num_coords,
                part.offset,
                part.data,
                part.last,
                part.crc32,
                part.encoding,
            )
        )
    return results


def test_payload_error_is_the_codecs_one() -> None:
    assert PayloadError is common.codecs.PayloadError


@pytest.mark.parametrize("n,chunk", [(1, 64), (583, 64), (10_000, 64), (10_000, 4096), (512, 64)])
def test_chunked_vote_reassembles(n: int, chunk: int) -> None:
    packed = _packed(n)
    messages = update_messages(3, packed.tobytes(), SIGN1, n, chunk)
    assert len(messages) == -(-packed_size(n) // chunk)
    assembler = Reassembler(n, chunk, SIGN1)  # exactly the chunks the cap allows
    results = _reassemble(assembler, messages, "update")
    assert all(r is None for r in results[:-1])
    np.testing.assert_array_equal(results[-1], packed)


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("n", [1, 583, 10_000])
@pytest.mark.parametrize("chunk", [64, 100])
def test_each_codecs_update_reassembles_to_the_same_row(name: str, n: int, chunk: int) -> None:
    codec = get_codec(name)
    row = _row(codec, n)
    messages = update_messages(7, codec.encode(row), codec, n, chunk)
    size = codec.max_size(n)
    assert len(messages) == -(-size // chunk)
    assert [m.update.encoding for m in messages] == [codec.wire_id] * len(messages)
    assert [m.update.offset for m in messages] == list(range(0, size, chunk))
    assert [m.update.last for m in messages] == [False] * (len(messages) - 1) + [True]
    results = _reassemble(Reassembler(n, chunk, codec), messages, "update")
    assert all(r is None for r in results[:-1])
    assert results[-1].dtype == row.dtype and results[-1].shape == row.shape
    np.testing.assert_array_equal(results[-1], row)


@pytest.mark.parametrize("name", CODECS)
def test_each_codecs_decision_reassembles_with_the_digest_on_the_last(name: str) -> None:
    codec, n, chunk = get_codec(name), 583, 64
    row = _row(codec, n, seed=1)
    messages = decision_messages(4, codec.encode(row), codec, n, chunk, model_digest=b"d" * 32)
    assert len(messages) > 1
    assert [m.decision.model_digest for m in messages] == [b""] * (len(messages) - 1) + [b"d" * 32]
    assert {m.decision.encoding for m in messages} == {codec.wire_id}
    results = _reassemble(Reassembler(n, chunk, codec), messages, "decision")
    np.testing.assert_array_equal(results[-1], row)


def test_single_message_fits_the_one_bit_budget() -> None:
    n = 582_026  # the paper's MNIST Net
    payload = _packed(n).tobytes()
    (update,) = update_messages(2999, payload, SIGN1, n, 1 << 20)
    (decision,) = decision_messages(2999, payload, SIGN1, n, 1 << 20, model_digest=b"\0" * 32)
    assert wire_size(update) <= n / 8 + 64
    assert wire_size(decision) <= n / 8 + 64


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_single_message_fits_the_sixteen_bit_budget(name: str) -> None:
    n, codec = 582_026, get_codec(name)
    payload = codec.encode(_row(codec, n))
    (update,) = update_messages(2999, payload, codec, n, 2 * n)
    assert wire_size(update) <= 2 * n + 64


def test_messages_size_is_the_sum_of_the_messages() -> None:
    n, codec = 10_000, get_codec("float16")
    messages = update_messages(0, codec.encode(_row(codec, n)), codec, n, 4096)
    assert len(messages) == 5
    assert messages_size(messages) == sum(wire_size(m) for m in messages)
    assert 2 * n < messages_size(messages) <= 2 * n + 5 * 64  # payload plus framing
    assert messages_size([]) == 0


def _add(assembler: Reassembler, **overrides: object) -> object:
    n = assembler.num_coords
    packed = _packed(n)
    fields = dict(
        round_index=0,
        num_coords=n,
        offset=0,
        data=packed.tobytes(),
        last=True,
        crc32=checksum(packed),
        encoding=SIGN1.wire_id,
    )
    fields.update(overrides)
    return assembler.add(**fields)  # type: ignore[arg-type]


def test_a_valid_payload_is_accepted() -> None:
    """The baseline the refusals below depart from by one field each."""
    np.testing.assert_array_equal(_add(Reassembler(100, None, SIGN1)), _packed(100))


def test_bad_checksum() -> None:
    with pytest.raises(PayloadError, match="checksum mismatch"):
        _add(Reassembler(100, None, SIGN1), crc32=1)


def test_wrong_number_of_coordinates() -> None:
    with pytest.raises(PayloadError, match="declares 99 coordinates"):
        _add(Reassembler(100, None, SIGN1), num_coords=99)


@pytest.mark.parametrize(
    "encoding", [pb.FLOAT32, pb.FLOAT16, pb.BFLOAT16, pb.ENCODING_UNSPECIFIED, 99]
)
def test_a_chunk_in_another_encoding_is_refused_naming_the_runs(encoding: int) -> None:
    assembler = Reassembler(100, None, SIGN1)
    with pytest.raises(PayloadError, match=f"encoding {encoding}, this run's is sign1"):
        _add(assembler, encoding=encoding)
    assert assembler.buffered == 0


def test_a_later_chunk_in_another_encoding_is_refused() -> None:
    """Every chunk says its encoding, and every one is checked, not just the first."""
    codec, n = get_codec("float16"), 100
    first, second = update_messages(0, codec.encode(_row(codec, n)), codec, n, 128)
    assembler = Reassembler(n, None, codec)
    assert _reassemble(assembler, [first], "update") == [None]
    second.update.encoding = pb.BFLOAT16  # the same length: only the label differs
    with pytest.raises(PayloadError, match="this run's is float16"):
        _reassemble(assembler, [second], "update")


@pytest.mark.parametrize(
    "word", [b"\x00\x7c", b"\x00\xfc", b"\x00\x7e"], ids=["inf", "-inf", "nan"]
)
def test_a_float16_payload_with_a_non_finite_value_is_refused(word: bytes) -> None:
    codec, n = get_codec("float16"), 100
    good = codec.encode(_row(codec, n))
    bad = good[:20] + word + good[22:]  # coordinate 10
    messages = update_messages(0, bad, codec, n, 64)  # its CRC matches: only the value is bad
    with pytest.raises(PayloadError, match="float16 payload has NaN or infinite values"):
        _reassemble(Reassembler(n, 64, codec), messages, "update")


def test_short_payload() -> None:
    with pytest.raises(PayloadError, match="need 13"):
        _add(Reassembler(100, None, SIGN1), data=b"\0" * 12, crc32=checksum(b"\0" * 12))


def test_short_dense_payload() -> None:
    data = b"\0" * 398
    with pytest.raises(PayloadError, match="398 bytes, 100 float32 values need 400"):
        _add(
            Reassembler(100, None, get_codec("float32")),
            data=data,
            crc32=checksum(data),
            encoding=2,
        )


@pytest.mark.parametrize("name,limit", [("sign1", 13), ("float32", 400), ("float16", 200)])
def test_oversized_payload_is_refused_before_buffering(name: str, limit: int) -> None:
    codec = get_codec(name)
    assembler = Reassembler(100, None, codec)
    with pytest.raises(PayloadError, match=f"exceeds {limit} bytes for 100 coordinates in {name}"):
        _add(assembler, data=b"\0" * (limit + 1), encoding=codec.wire_id)
    assert assembler.buffered == 0


def test_out_of_order_chunk() -> None:
    with pytest.raises(PayloadError, match="chunk at byte 5"):
        _add(Reassembler(100, None, SIGN1), offset=5)


def test_nonzero_padding_bits() -> None:
    payload = b"\0" * 12 + b"\xff"
    with pytest.raises(PayloadError, match="padding bits"):
        _add(Reassembler(100, None, SIGN1), data=payload, crc32=checksum(payload))


@pytest.mark.parametrize("name,chunks", [("sign1", 2), ("float32", 63)])
def test_a_payload_in_more_chunks_than_its_size_needs_is_refused(name: str, chunks: int) -> None:
    """Endless empty (or tiny) chunks would keep a core busy: at most ceil(size/chunk)."""
    codec, n, chunk = get_codec(name), 1000, 64  # 125 or 4000 bytes
    assembler = Reassembler(n, chunk, codec)
    assert assembler.max_chunks == chunks
    for _ in range(chunks):
        assert assembler.add(0, n, 0, b"", False, 0, codec.wire_id) is None
    with pytest.raises(PayloadError, match=f"more than {chunks} chunks"):
        assembler.add(0, n, 0, b"", False, 0, codec.wire_id)
    # After a completed payload the count starts again.
    fresh = Reassembler(n, chunk, codec)
    for seed in range(3):
        messages = update_messages(0, codec.encode(_row(codec, n, seed)), codec, n, chunk)
        *_, got = _reassemble(fresh, messages, "update")
        np.testing.assert_array_equal(got, _row(codec, n, seed))


@pytest.mark.parametrize("name", ["sign1", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("n", "chunk", "round_index"),
    [(1, 64, 0), (583, 64, 127), (10_000, 4096, 128), (300_000, 1 << 20, 70_000)],
)
def test_payload_size_is_the_built_messages_size(
    name: str, n: int, chunk: int, round_index: int
) -> None:
    """The simulation's byte count, computed without building messages, is exact."""
    codec = get_codec(name)
    rng = np.random.default_rng(n)
    row = (
        np.packbits(rng.random(n) > 0.5, bitorder="little")
        if name == "sign1"
        else rng.standard_normal(n).astype(np.float32)
    )
    payload = codec.encode(row)
    up = update_messages(round_index, payload, codec, n, chunk)
    assert payload_size(round_index, len(payload), codec, n, chunk) == messages_size(up)
    for digest in (b"", b"\x07" * 32):
        down = decision_messages(round_index, payload, codec, n, chunk, digest)
        got = payload_size(
            round_index, len(payload), codec, n, chunk, decision=True, model_digest=digest
        )
        assert got == messages_size(down)
