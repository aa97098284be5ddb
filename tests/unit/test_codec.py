import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.codec import (
    checksum,
    coin_rng,
    pack_bits,
    pack_signs,
    packed_size,
    sign_bits,
    unpack_bits,
    unpack_signs,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=2**32 - 1))
def test_round_trip_every_length(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n).astype(np.float32)
    packed = pack_signs(values, coin_rng(seed))
    assert packed.dtype == np.uint8 and packed.shape == (packed_size(n),)
    np.testing.assert_array_equal(unpack_signs(packed, n), np.where(values > 0, 1, -1))
    if n % 8:  # the padding bits of the last byte are zero
        assert packed[-1] >> (n % 8) == 0


def test_bit_layout_is_little_endian_and_one_means_plus() -> None:
    bits = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    assert pack_bits(bits).tolist() == [0b0000_0001, 0b0000_0010]


def test_exact_zeros_get_a_seeded_fair_coin() -> None:
    zeros = np.zeros(100_000, dtype=np.float32)
    a = sign_bits(zeros, coin_rng(7, 1, 2))
    b = sign_bits(zeros, coin_rng(7, 1, 2))
    c = sign_bits(zeros, coin_rng(7, 1, 3))
    np.testing.assert_array_equal(a, b)  # replayable
    assert (a != c).mean() > 0.45  # another round, another coin
    assert abs(a.mean() - 0.5) < 0.01  # no drift in either direction


def test_non_zero_entries_ignore_the_coin() -> None:
    values = np.array([-2.0, 0.0, 3.0, -0.5], dtype=np.float32)
    for seed in range(20):
        bits = sign_bits(values, coin_rng(seed))
        assert bits[[0, 2, 3]].tolist() == [False, True, False]


def test_non_finite_gradient_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        pack_signs(np.array([1.0, np.nan], dtype=np.float32), coin_rng(0))


def test_unpack_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="cannot hold 17 signs"):
        unpack_bits(np.zeros(2, dtype=np.uint8), 17)


def test_checksum_is_crc32_of_the_bytes() -> None:
    packed = np.arange(10, dtype=np.uint8)
    assert checksum(packed) == checksum(packed.tobytes()) == 0x456CD746
