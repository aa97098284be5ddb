"""common/codecs.py: what each payload encoding keeps of a row, what it refuses, and
that its wire number is the proto's."""

from __future__ import annotations

import numpy as np
import pytest

from common.codec import coin_rng, pack_signs
from common.codecs import (
    PayloadError,
    available,
    codec_for_wire,
    get_codec,
)
from common.proto import signfed_pb2 as pb

NAMES = ("sign1", "float32", "float16", "bfloat16")  # fixed sizes; ternary's varies
ALL = (*NAMES, "ternary")  # tests/unit/test_ternary_codec.py covers ternary
DENSE = ("float32", "float16", "bfloat16")
# Unit roundoff of round-to-nearest: half the spacing of representable values near x,
# relative to x. bfloat16 keeps 8 significant bits, float16 11, float32 all 24.
RELATIVE_ERROR = {"float32": 0.0, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def _signs(n: int, seed: int = 0) -> np.ndarray:
    """(ceil(N/8),) uint8: a sign1 row."""
    return pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))


def _normal_values(n: int, seed: int = 0) -> np.ndarray:
    """(N,) float32 spread over many binades, all normal in float16 (2**-14 .. 6e4)."""
    rng = np.random.default_rng(seed)
    magnitude = 2.0 ** rng.uniform(-13, 15, n)
    return (rng.choice([-1.0, 1.0], n) * magnitude).astype(np.float32)


def _bfloat16_bits(float32_bits: list[int]) -> list[int]:
    """The uint16 words bfloat16 puts on the wire for these float32 bit patterns."""
    row = np.array(float32_bits, dtype="<u4").view("<f4")
    return np.frombuffer(get_codec("bfloat16").encode(row), dtype="<u2").tolist()


@pytest.mark.parametrize("n", [1, 7, 8, 9, 583])
def test_sign1_round_trips_exactly(n: int) -> None:
    codec, row = get_codec("sign1"), _signs(n)
    data = codec.encode(row)
    assert data == row.tobytes()
    back = codec.decode(data, n)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, row)
    np.testing.assert_array_equal(codec.roundtrip(row, n), back)


def test_sign1_values_are_plus_and_minus_one() -> None:
    n = 583
    gradient = np.random.default_rng(3).standard_normal(n)
    values = get_codec("sign1").values(_signs(n, seed=3), n)
    assert values.dtype == np.float32 and values.shape == (n,)
    np.testing.assert_array_equal(values, np.where(gradient > 0, 1.0, -1.0))


@pytest.mark.parametrize("name", DENSE)
@pytest.mark.parametrize("n", [1, 583, 10_000])
def test_dense_codecs_round_trip_within_their_precision(name: str, n: int) -> None:
    codec, row = get_codec(name), _normal_values(n)
    data = codec.encode(row)
    back = codec.decode(data, n)
    assert back.dtype == np.float32 and back.shape == (n,)
    error = np.abs(back.astype(np.float64) - row) / np.abs(row)
    assert error.max() <= RELATIVE_ERROR[name]
    if name == "float32":
        assert data == row.astype("<f4").tobytes()
    else:  # 16 bits keep less than float32: something was rounded off
        assert error.max() > 0
    np.testing.assert_array_equal(codec.roundtrip(row, n), back)
    np.testing.assert_array_equal(codec.values(back, n), back)


@pytest.mark.parametrize("name", DENSE)
def test_a_representable_row_survives_a_second_trip_unchanged(name: str) -> None:
    """What a receiver decodes encodes back to the same bytes: relaying is lossless."""
    codec = get_codec(name)
    once = codec.roundtrip(_normal_values(1000, seed=4), 1000)
    assert codec.encode(once) == codec.encode(_normal_values(1000, seed=4))
    np.testing.assert_array_equal(codec.roundtrip(once, 1000), once)


@pytest.mark.parametrize(
    "float32_bits,bfloat16_bits",
    [
        (0x3F808000, 0x3F80),  # exactly half, even below: stays
        (0x3F818000, 0x3F82),  # exactly half, odd below: up to even
        (0x3F808001, 0x3F81),  # just above half: up
        (0x3F807FFF, 0x3F80),  # just below half: down
        (0xBF818000, 0xBF82),  # the sign does not change the rule
        (0x3FFF8000, 0x4000),  # rounding up carries into the exponent: 2.0
        (0x00008000, 0x0000),  # a subnormal tie rounds to even (zero)
    ],
    ids=lambda bits: f"{bits:#x}",
)
def test_bfloat16_rounds_half_to_even(float32_bits: int, bfloat16_bits: int) -> None:
    assert _bfloat16_bits([float32_bits]) == [bfloat16_bits]


def test_bfloat16_keeps_float32s_range() -> None:
    """Where float16 overflows, bfloat16 does not: it has float32's exponent."""
    row = np.array([70000.0, -1e30, 1e-30], dtype=np.float32)
    back = get_codec("bfloat16").roundtrip(row, 3)
    np.testing.assert_allclose(back, row, rtol=2.0**-8)


@pytest.mark.parametrize("name", DENSE)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_refuses_nan_and_infinity(name: str, bad: float) -> None:
    row = np.array([1.0, bad, 2.0], dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinite"):
        get_codec(name).encode(row)


def test_float16_encode_refuses_values_beyond_its_range() -> None:
    codec = get_codec("float16")
    assert codec.decode(codec.encode(np.array([65504.0], np.float32)), 1).tolist() == [65504.0]
    with pytest.raises(ValueError, match="beyond float16's range.*bfloat16 or float32"):
        codec.encode(np.array([1.0, 70000.0], dtype=np.float32))
    with pytest.raises(ValueError, match="beyond float16's range"):
        codec.encode(np.array([-70000.0], dtype=np.float32))


def test_bfloat16_encode_refuses_what_rounds_to_infinity() -> None:
    """float32's largest value is past bfloat16's largest (0x7F7F) by more than half a
    step: it would round to infinity."""
    biggest = np.array([0x7F7FFFFF], dtype="<u4").view("<f4")
    with pytest.raises(ValueError, match="beyond bfloat16's range"):
        get_codec("bfloat16").encode(biggest)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("delta", [-1, 1])
def test_validate_refuses_a_wrong_length(name: str, delta: int) -> None:
    codec, n = get_codec(name), 100
    size = codec.max_size(n) + delta
    with pytest.raises(PayloadError, match=f"payload has {size} bytes.*need {size - delta}"):
        codec.validate(b"\0" * size, n)
    with pytest.raises(PayloadError):
        codec.decode(b"\0" * size, n)  # decode validates first


def test_validate_refuses_nonzero_sign1_padding() -> None:
    codec = get_codec("sign1")
    codec.validate(b"\0" * 12 + b"\x0f", 100)  # coordinates 96..99: the low 4 bits
    with pytest.raises(PayloadError, match="padding bits"):
        codec.validate(b"\0" * 12 + b"\x10", 100)  # bit 4: coordinate 100, which is none
    codec.validate(b"\xff" * 13, 104)  # no padding when N is a multiple of 8


@pytest.mark.parametrize(
    "name,word",
    [
        ("float32", b"\x00\x00\xc0\x7f"),  # NaN
        ("float32", b"\x00\x00\x80\xff"),  # -inf
        ("float16", b"\x00\x7c"),  # +inf
        ("float16", b"\x00\x7e"),  # NaN
        ("bfloat16", b"\x80\x7f"),  # +inf
        ("bfloat16", b"\xc0\xff"),  # NaN, sign bit set
    ],
    ids=[
        "float32-nan",
        "float32-neg-inf",
        "float16-inf",
        "float16-nan",
        "bfloat16-inf",
        "bfloat16-neg-nan",
    ],
)
def test_validate_refuses_non_finite_dense_values(name: str, word: bytes) -> None:
    codec = get_codec(name)
    good = codec.encode(np.ones(4, np.float32))
    codec.validate(good, 4)
    bad = good[: len(word)] + word + good[2 * len(word) :]  # coordinate 1 replaced
    assert len(bad) == len(good)
    with pytest.raises(PayloadError, match=f"{name} payload has NaN or infinite values"):
        codec.validate(bad, 4)
    with pytest.raises(PayloadError):
        codec.decode(bad, 4)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 583, 582_026])
def test_max_size(n: int) -> None:
    sizes = [get_codec(name).max_size(n) for name in NAMES]
    assert sizes == [-(-n // 8), 4 * n, 2 * n, 2 * n]


def test_check_rows_names_what_is_wrong() -> None:
    sign1, float32 = get_codec("sign1"), get_codec("float32")
    sign1.check_rows(np.zeros((3, 13), np.uint8), 100)
    with pytest.raises(ValueError, match="uint8"):
        sign1.check_rows(np.zeros((3, 13), np.int8), 100)
    with pytest.raises(ValueError, match=r"shape \(M, 13\)"):
        sign1.check_rows(np.zeros((3, 12), np.uint8), 100)
    float32.check_rows(np.zeros((3, 100), np.float32), 100)
    with pytest.raises(ValueError, match="float32"):
        float32.check_rows(np.zeros((3, 100), np.float64), 100)
    with pytest.raises(ValueError, match=r"shape \(M, 100\)"):
        float32.check_rows(np.zeros((100,), np.float32), 100)
    with pytest.raises(ValueError, match="NaN or infinite"):
        float32.check_rows(np.full((1, 100), np.nan, np.float32), 100)


def test_registry() -> None:
    assert available() == ALL
    assert [get_codec(name).name for name in ALL] == list(ALL)
    with pytest.raises(ValueError, match="unknown encoding 'x'; available: sign1, float32, "):
        get_codec("x")
    for name in ALL:
        assert codec_for_wire(get_codec(name).wire_id) is get_codec(name)
    with pytest.raises(PayloadError, match="unknown payload encoding 0"):
        codec_for_wire(0)  # what a v1 sender's Vote parses as: no encoding at all
    with pytest.raises(PayloadError, match="unknown payload encoding 6"):
        codec_for_wire(6)


def test_wire_ids_are_the_proto_enum() -> None:
    for name in ALL:
        assert pb.Encoding.Value(name.upper()) == get_codec(name).wire_id
    # Every proto value but the unspecified one is a codec: none is missing here.
    assert sorted(pb.Encoding.values()) == [0, *sorted(get_codec(n).wire_id for n in ALL)]
