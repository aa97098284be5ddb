"""common/ternary.py: ternary rows survive the wire exactly, in under a bit a coordinate
when structured, and no byte string gets past the decoder as anything but a PayloadError
or a canonical row."""

from __future__ import annotations

import lzma
import time
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from common.codecs import PayloadError, codec_for_wire, get_codec
from common.proto import signfed_pb2 as pb
from common.ternary import Ternary, layout_of, planes, ternary_row

NET_SHAPES = [(32, 1, 5, 5), (32,), (64, 32, 5, 5), (64,), (512, 1024), (512,), (10, 512), (10,)]
LAYOUT = ((3, 5), (128, 256), (1, 7))  # the middle block may take factors
N = 15 + 128 * 256 + 7
RAW = [{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 17}]  # the format's LZMA2 stream


def _random_row(n: int, seed: int, zeros: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ternary_row(rng.choice([-1.0, 1.0], n) * (rng.random(n) >= zeros))


def _gradient(rows: int, cols: int, batch: int, seed: int) -> np.ndarray:
    """(rows * cols,) shaped like a fc weight's gradient delta.T @ x: zero where no example
    of the batch has both the unit and the input active (whole dead rows and columns, and
    at a small batch few distinct column patterns), signs of rank 3 (as W2.T @ (p - y))."""
    rng = np.random.default_rng(seed)
    units = rng.random((rows, batch)) < 0.3  # the examples each unit is active in
    inputs = rng.random((cols, batch)) < 0.3  # the examples each input is nonzero in
    live = units.astype(np.int32) @ inputs.T.astype(np.int32) > 0
    signs = rng.standard_normal((rows, 3)) @ rng.standard_normal((3, cols))
    return np.where(live, signs, 0.0).reshape(-1)


def _parts(data: bytes, header: int) -> bytes:
    """The decompressed parts of a packed payload with a `header`-byte layout; the first
    K bytes are the models: 0 = signs predicted per row, r = by rank-r factors."""
    assert data[0] == 1
    return lzma.decompress(data[1 + header :], format=lzma.FORMAT_RAW, filters=RAW)


def _packed(parts: bytes, header: bytes = b"\x00") -> bytes:
    """A packed payload by hand: form 1, the layout header, an LZMA2 stream of `parts`."""
    return b"\x01" + header + lzma.compress(parts, format=lzma.FORMAT_RAW, filters=RAW)


def _check_canonical(row: np.ndarray, n: int) -> None:
    """A valid row: (2B,) uint8, no sign bit on a zero coordinate, zero padding."""
    assert row.dtype == np.uint8 and row.shape == (2 * ((n + 7) // 8),)
    signs, nonzero = planes(row, n)
    assert not (signs & ~nonzero).any()
    assert not np.unpackbits(row.reshape(2, -1), axis=1, bitorder="little")[:, n:].any()


def test_registered_under_its_proto_number() -> None:
    codec = get_codec("ternary")
    assert isinstance(codec, Ternary) and codec.layout is None
    assert codec.wire_id == pb.Encoding.Value("TERNARY") == 5
    assert codec_for_wire(5) is codec and codec.bits == 1


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100, 583, 5000])
def test_random_rows_round_trip_without_a_layout(n: int) -> None:
    codec = get_codec("ternary")
    for seed, zeros in enumerate((0.0, 0.3, 0.9, 1.0)):
        row = _random_row(n, seed, zeros)
        data = codec.encode(row)
        assert len(data) <= codec.max_size(n)
        np.testing.assert_array_equal(codec.decode(data, n), row)


@pytest.mark.parametrize("zeros", [0.0, 0.05, 0.4, 1.0])
def test_rows_round_trip_with_a_layout_and_decode_without_one(zeros: float) -> None:
    row = _random_row(N, 7, zeros)
    data = Ternary(LAYOUT).encode(row)
    assert len(data) <= Ternary().max_size(N) == 1 + 2 * ((N + 7) // 8)
    for reader in (get_codec("ternary"), Ternary(((1, N),)), Ternary(LAYOUT)):
        np.testing.assert_array_equal(reader.decode(data, N), row)


def test_structured_gradients_round_trip_in_under_a_bit() -> None:
    layout = ((192, 256), (1, 64), (10, 64))  # a weight, a bias, a small weight
    n = 192 * 256 + 64 + 640
    for batch, most, factors in ((4, 0.5, False), (64, 0.5, True)):
        gradient = np.concatenate(
            (_gradient(192, 256, batch, batch), np.zeros(64), _gradient(10, 64, batch, 1))
        )
        row = ternary_row(gradient)
        data = get_codec("ternary").bound(layout).encode(row)
        np.testing.assert_array_equal(get_codec("ternary").decode(data, n), row)
        assert len(data) <= get_codec("ternary").max_size(n)
        assert 8 * (len(data) + 29) / n < most, (batch, 8 * len(data) / n)
        assert (_parts(data, 9)[0] == 8) == factors  # header: 03 c001 8002 01 40 0a 40
    # Batch 4: 70 % zeros, in dead rows, dead columns, 16 column patterns; batch 64: no
    # zeros, rank-3 signs, which the layout's factors predict: half the flat size.
    assert len(data) < 0.6 * len(get_codec("ternary").encode(row))


def test_all_zero_and_no_zero_rows() -> None:
    codec = Ternary(LAYOUT)
    zero = ternary_row(np.zeros(N))
    data = codec.encode(zero)
    assert len(data) < 100
    np.testing.assert_array_equal(codec.decode(data, N), zero)
    full = ternary_row(np.where(np.random.default_rng(1).random(N) < 0.5, -1.0, 1.0))
    data = codec.encode(full)
    assert len(data) <= N // 8 + 200  # random signs: a bit each, hardly more
    np.testing.assert_array_equal(codec.decode(data, N), full)


def test_no_coordinates_is_a_one_byte_plain_payload() -> None:
    codec = get_codec("ternary")
    assert codec.encode(np.zeros(0, np.uint8)) == b"\x00" and codec.max_size(0) == 1
    assert codec.decode(b"\x00", 0).shape == (0,)
    with pytest.raises(PayloadError, match="ends inside the block count"):
        codec.decode(b"\x01", 0)


def test_encode_canonicalises_signs_on_zeros_and_padding() -> None:
    n = 13
    row = ternary_row(np.array([1, -1, 0, 0, 1, 0, -1, 1, 0, 0, -1, 1, 0.0]))
    dirty = row.copy()
    dirty[:2] |= np.array([0b0000_1100, 0b1110_0000], np.uint8)  # signs on zeros, padding
    dirty[3] |= 0b1110_0000  # nonzero padding
    for codec in (Ternary(((1, n),)), Ternary(((1, 8), (1, 5)))):
        data = codec.encode(dirty)
        np.testing.assert_array_equal(codec.decode(data, n), row)


def test_encode_rejects_rows_it_cannot_represent() -> None:
    for bad in (np.zeros(4, dtype=np.int16), np.zeros(3, dtype=np.uint8)):
        with pytest.raises(ValueError, match="uint8"):
            Ternary().encode(bad)
    with pytest.raises(ValueError, match=f"layout has {N} coordinates"):
        Ternary(LAYOUT).encode(np.zeros(10, dtype=np.uint8))
    with pytest.raises(ValueError, match="rows, cols"):
        Ternary(((0, 3),))


def test_values_are_minus_one_zero_plus_one() -> None:
    vector = np.array([0.5, -2.0, 0.0, 3.0, -0.0, -1e-30, 0.0, 7.0, 1.0])
    values = get_codec("ternary").values(ternary_row(vector), 9)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, [1, -1, 0, 1, 0, -1, 0, 1, 1])
    assert not np.signbit(values[values == 0]).any()  # 0.0, never -0.0


def test_ternary_row_and_planes() -> None:
    row = ternary_row(np.array([1.0, 0.0, -1.0]))
    signs, nonzero = planes(row, 3)
    assert signs.tolist() == [0b001] and nonzero.tolist() == [0b101]
    assert np.shares_memory(signs, row) and np.shares_memory(nonzero, row)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ternary_row(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"is \(4,\)"):
        planes(np.zeros(6, np.uint8), 9)


def test_layout_of_parameter_shapes() -> None:
    layout = layout_of(NET_SHAPES)
    expected = ((32, 25), (1, 32), (64, 800), (1, 64), (512, 1024), (1, 512), (10, 512), (1, 10))
    assert layout == expected
    assert sum(r * c for r, c in layout) == 582_026
    assert layout_of([(), (0, 4), (3,)]) == ((1, 1), (1, 3))
    assert Ternary(LAYOUT).bound(()).layout is None


def test_check_rows() -> None:
    codec, n = get_codec("ternary"), 13
    rows = np.stack([_random_row(n, s) for s in range(3)])
    codec.check_rows(rows, n)
    with pytest.raises(ValueError, match="uint8"):
        codec.check_rows(rows.astype(np.int64), n)
    with pytest.raises(ValueError, match=r"shape \(M, 4\)"):
        codec.check_rows(rows[:, :3], n)
    # Type and shape only (as sign1's): aggregators make rows canonical themselves.
    codec.check_rows(np.array([[1, 0, 0, 0b0010_0000]], np.uint8), n)


def test_a_hand_built_payload_decodes_as_the_format_says() -> None:
    # N = 400 as one (1, 400) block: models [0]; one row byte (majority +, class 3); the
    # nonzero plane; one flip bit per nonzero coordinate, in flat order (one row).
    n = 400
    nonzero = np.arange(n) % 3 != 0
    flips = np.arange(np.count_nonzero(nonzero)) % 4 == 1  # every 4th nonzero is -1
    parts = bytes([0, 3 << 1 | 1]) + np.packbits(nonzero, bitorder="little").tobytes()
    parts += np.packbits(flips, bitorder="little").tobytes()
    expected = np.zeros(n)
    expected[nonzero] = np.where(flips, -1.0, 1.0)
    codec = Ternary()
    for header in (b"\x00", b"\x01\x01\x90\x03"):  # no layout; one (1, 400) block
        data = _packed(parts, header)
        assert len(data) <= codec.max_size(n) == 101
        np.testing.assert_array_equal(codec.values(codec.decode(data, n), n), expected)
    with pytest.raises(PayloadError, match="1 bytes follow"):
        codec.decode(data + b"\x00", n)


M = 250  # coordinates of the malformed cases: max_size 65, padding in the last byte
# (header numbers are LEB128: 249, 250, 251 = f9 01, fa 01, fb 01)


def _valid_parts(nonzero: bytes = b"\xff" * 31 + b"\x03") -> bytes:
    """A valid no-layout stream for M coordinates: models, row byte, planes, flips."""
    count = sum(bin(byte).count("1") for byte in nonzero)
    return b"\x00\x01" + nonzero + b"\x00" * ((count + 7) // 8)


MALFORMED = {  # name: (payload, what the PayloadError says)
    "empty payload": (b"", "needs 1 to 65"),
    "longer than max_size": (b"\x00" * 66, "needs 1 to 65"),
    "unknown form": (b"\x02" + b"\x00" * 64, "unknown ternary payload form 2"),
    "plain, short": (b"\x00" * 64, "plain ternary payload has 64 bytes, needs 65"),
    "plain, sign on a zero": (b"\x00\x01" + b"\x00" * 63, "sign bit is set on a zero"),
    "plain, padding": (b"\x00" * 64 + b"\x04", "padding bits past"),
    "header ends in the block count": (b"\x01", "ends inside the block count"),
    "header ends in a block": (b"\x01\x01\x01", "ends inside the block cols"),
    "overlong varint": (b"\x01\x80\x00", "overlong"),
    "block count over N": (b"\x01" + b"\xfb\x01", "block count"),
    "blocks do not cover N": (_packed(_valid_parts(), b"\x01\x01" + b"\xf9\x01"), "cover 249"),
    "blocks go past N": (_packed(_valid_parts(), b"\x02\x01" + b"\xfa\x01" + b"\x01\x01"), "past"),
    "empty block": (_packed(_valid_parts(), b"\x02\x00\x05\x01" + b"\xfa\x01"), "is empty"),
    "no stream": (b"\x01\x00", "truncated"),
    "truncated stream": (_packed(_valid_parts())[:-3], "truncated|corrupt"),
    "bytes after the stream": (_packed(_valid_parts()) + b"\x00", "1 bytes follow"),
    "corrupt stream": (b"\x01\x00" + bytes(range(200, 224)), "corrupt|truncated"),
    "stream too short": (_packed(_valid_parts()[:-1]), "ends before its last part"),
    "stream too long": (_packed(_valid_parts() + b"\x00"), "1 bytes past its parts"),
    "row byte out of range": (_packed(b"\x00\x40" + _valid_parts()[2:]), "row byte is 64"),
    "factors on a small block": (_packed(b"\x01" + _valid_parts()[1:]), "factor rank"),
    "nonzero padding": (_packed(_valid_parts(b"\xff" * 32)), "after the nonzero plane"),
    "flip padding": (_packed(_valid_parts()[:-1] + b"\x80"), "after the flip bits"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_payloads_are_payload_errors(case: str) -> None:
    valid = get_codec("ternary").decode(_packed(_valid_parts()), M)  # what they spoil
    assert (get_codec("ternary").values(valid, M) == 1).all()
    data, message = MALFORMED[case]
    assert len(data) <= Ternary().max_size(M) or case == "longer than max_size"
    with pytest.raises(PayloadError, match=message):
        get_codec("ternary").decode(data, M)
    with pytest.raises(PayloadError, match=message):
        get_codec("ternary").validate(data, M)


def test_factor_blocks_are_checked() -> None:
    header = b"\x01\x40\x40"  # one 64 x 64 block: 4096 coordinates, factors allowed
    nonzero = b"\x00" * 512
    step0 = b"\x08" + b"\x00\x00\x00\x00" + b"\x01" * (2 * 64 * 8)
    rank33 = b"\x21" + b"\x01\x00\x00\x00" + b"\x01" * (2 * 64 * 33)
    for parts, message in ((step0, "step is 0"), (rank33, "factor rank is over 32")):
        with pytest.raises(PayloadError, match=message):
            get_codec("ternary").decode(_packed(parts + nonzero, header), 4096)
    good = b"\x08" + b"\x05\x00\x00\x00" + b"\x01" * (2 * 64 * 8) + nonzero
    assert not get_codec("ternary").decode(_packed(good, header), 4096).any()


def test_a_decompression_bomb_is_refused_within_bounded_memory() -> None:
    n = 20_000  # max_size 5,001 bytes; the stream expands to 10 MB
    bomb = _packed(b"\x00" * 10_000_000)
    assert len(bomb) <= Ternary().max_size(n)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(PayloadError, match="more than the coordinates need"):
        get_codec("ternary").decode(bomb, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000 and time.perf_counter() - started < 0.5


def _outcome(data: bytes) -> str:
    """ "row" (a canonical one) or "error" (a PayloadError): decode has no third way out."""
    try:
        row = get_codec("ternary").decode(data, N)
    except PayloadError:
        return "error"
    _check_canonical(row, N)
    return "row"


FACTORED = Ternary(LAYOUT).encode(
    ternary_row(np.concatenate((np.zeros(15), _gradient(128, 256, 64, 3), np.ones(7))))
)


def test_fuzz_only_payload_errors_or_canonical_rows() -> None:
    rng = np.random.default_rng(2024)
    valid = [
        FACTORED,
        Ternary(LAYOUT).encode(_random_row(N, 4)),
        get_codec("ternary").encode(_random_row(N, 5)),
        b"\x00" + _random_row(N, 6).tobytes(),
    ]
    assert _parts(FACTORED, 9)[:3] == b"\x00\x08\x00"  # factors for the middle block
    cases = [rng.bytes(int(k)) for k in rng.integers(0, 300, 50)]
    cases += [b"\x01" + rng.bytes(int(k)) for k in rng.integers(0, 300, 50)]
    for data in valid:
        cases += [data[: int(k)] for k in rng.integers(0, len(data), 30)]
        for at in rng.integers(0, len(data), 60):
            corrupt = bytearray(data)
            corrupt[at] ^= 1 << int(rng.integers(0, 8))
            cases.append(bytes(corrupt))
    outcomes = Counter(_outcome(data) for data in cases)
    assert 0 < outcomes["row"] < outcomes["error"], outcomes


def test_fuzz_the_parts_behind_the_compression() -> None:
    # Random bytes rarely get through LZMA2; mutate the decompressed parts instead and
    # compress them again, so every check of the parser meets bad input.
    rng = np.random.default_rng(7)
    parts, outcomes = _parts(FACTORED, 9), Counter[str]()
    for _ in range(150):
        mutated = bytearray(parts)
        if rng.random() < 0.3:
            mutated = mutated[: int(rng.integers(0, len(mutated)))]
        else:
            for at in rng.integers(0, min(len(mutated), 3000), int(rng.integers(1, 4))):
                mutated[at] = int(rng.integers(0, 256))  # models, factors, rows mostly
        outcomes[_outcome(_packed(bytes(mutated), FACTORED[1:10]))] += 1
    assert outcomes["row"] > 10 and outcomes["error"] > 10, outcomes
