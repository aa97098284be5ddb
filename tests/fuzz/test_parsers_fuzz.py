"""Hostile bytes against the protobuf parsers and the payload codecs: pure and fast.

Whatever a peer sends, parsing a signfed message either succeeds or raises
DecodeError (which the server must turn into a status code); a payload either decodes
to a row that is all it said or raises PayloadError; the sign packing either
round-trips or raises ValueError, and so does encoding any floats. Example budget:
tests/fuzz/strategies.py (SIGNFED_FUZZ_EXAMPLES=N for longer local runs).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from common.codec import (
    checksum,
    coin_rng,
    pack_bits,
    packed_size,
    sign_bits,
    unpack_bits,
    unpack_signs,
)
from common.codecs import PayloadError, available, get_codec
from common.config import PROTOCOL_VERSION
from common.proto import signfed_pb2 as pb
from tests.fuzz.strategies import DENSE_WORDS, budget, mutated, non_finite, protobuf_shaped

# Every message type that crosses the wire, with one valid instance to mutate.
VALID = {
    pb.ClientMessage: pb.ClientMessage(
        update=pb.Update(
            round=3,
            num_coords=20,
            offset=0,
            last=True,
            crc32=7,
            data=b"\1\2\3",
            encoding=pb.SIGN1,
        )
    ),
    pb.ServerMessage: pb.ServerMessage(
        decision=pb.Decision(
            round=3,
            num_coords=20,
            last=True,
            data=b"\0" * 40,
            model_digest=b"d",
            encoding=pb.FLOAT16,
        )
    ),
    pb.JoinRequest: pb.JoinRequest(
        protocol_version=PROTOCOL_VERSION, client_name="a", batch_size=4
    ),
    pb.JoinReply: pb.JoinReply(
        client_id=1,
        session=b"s" * 16,
        settings=pb.RunSettings(seed=1, update_encoding=pb.SIGN1, decision_encoding=pb.SIGN1),
    ),
    pb.FetchModelRequest: pb.FetchModelRequest(client_id=1, session=b"s" * 16),
    pb.ModelChunk: pb.ModelChunk(round=1, num_params=2, data=b"\0" * 8, last=True),
    pb.StatusRequest: pb.StatusRequest(),
    pb.StatusReply: pb.StatusReply(state="training", round=2, rounds=5),
}

# Fixed-size codecs, whose refusals follow from the length and words alone; ternary has
# its own fuzz tests (tests/unit/test_ternary_codec.py).
FIXED_SIZE = [name for name in available() if name != "ternary"]


@pytest.mark.parametrize("message_type", list(VALID), ids=lambda t: t.__name__)
def test_parsing_hostile_bytes_succeeds_or_raises_decode_error(message_type: type) -> None:
    template = VALID[message_type].SerializeToString()

    @budget(150)
    @given(st.one_of(st.binary(max_size=200), protobuf_shaped(), mutated(template)))
    def parse(data: bytes) -> None:
        try:
            message = message_type.FromString(data)
        except DecodeError:
            return
        # What parsed re-serialises, and parses back to the same bytes (NaN floats
        # make comparing messages useless).
        again = message.SerializeToString(deterministic=True)
        assert message_type.FromString(again).SerializeToString(deterministic=True) == again

    parse()


@budget(300)
@given(st.lists(st.booleans(), max_size=300))
def test_bits_round_trip_through_packing(bits: list[bool]) -> None:
    packed = pack_bits(np.array(bits, dtype=bool))
    assert packed.shape == (packed_size(len(bits)),)
    assert unpack_bits(packed, len(bits)).tolist() == bits
    assert unpack_bits(packed.tobytes(), len(bits)).tolist() == bits


@budget(300)
@given(st.integers(0, 200).flatmap(lambda n: st.tuples(st.just(n), st.binary(max_size=40))))
def test_any_received_bytes_unpack_or_raise_value_error(case: tuple[int, bytes]) -> None:
    """A payload of the right length decodes whatever its padding bits hold; re-packing
    gives it back with the padding cleared. Any other length is a ValueError."""
    num_coords, data = case
    if len(data) != packed_size(num_coords):
        with pytest.raises(ValueError, match="cannot hold"):
            unpack_bits(data, num_coords)
        return
    signs = unpack_signs(data, num_coords)
    assert set(np.unique(signs)) <= {-1.0, 1.0} and signs.dtype == np.float32
    repacked = pack_bits(signs > 0)
    expected = bytearray(data)
    if num_coords % 8:
        expected[-1] &= (1 << (num_coords % 8)) - 1
    assert repacked.tobytes() == bytes(expected)


@budget(300)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.sampled_from([0.0, -0.0, 1e-45, -1e-45]),
        ),
        max_size=64,
    ),
    st.integers(0, 2**32 - 1),
)
def test_sign_bits_of_any_floats(values: list[float], seed: int) -> None:
    array = np.array(values, dtype=np.float32)
    if not np.isfinite(array).all():
        with pytest.raises(ValueError, match="NaN or infinite"):
            sign_bits(array, coin_rng(seed))
        return
    bits = sign_bits(array, coin_rng(seed))
    nonzero = array != 0  # -0.0 is a zero: it takes the coin like +0.0
    assert (bits[nonzero] == (array[nonzero] > 0)).all()
    np.testing.assert_array_equal(bits, sign_bits(array, coin_rng(seed)))  # replayable


@budget(200)
@given(st.binary(max_size=100), st.integers(1, 4))
def test_checksum_of_a_strided_array_is_crc32_of_its_bytes(data: bytes, step: int) -> None:
    view = np.frombuffer(data, dtype=np.uint8)[::step]
    assert checksum(view) == zlib.crc32(view.tobytes()) == checksum(view.tobytes())


@st.composite
def _received_payloads(draw: st.DrawFn) -> tuple[str, int, bytes]:
    """A codec, a model size and bytes of about its payload's length (mostly exact)."""
    name = draw(st.sampled_from(FIXED_SIZE))
    n = draw(st.integers(0, 40))
    size = max(get_codec(name).max_size(n) + draw(st.sampled_from([0, 0, 0, -1, 1, 2])), 0)
    return name, n, draw(st.binary(min_size=size, max_size=size))


@budget(400)
@given(_received_payloads())
def test_any_received_payload_decodes_to_what_it_said_or_raises_payload_error(
    case: tuple[str, int, bytes],
) -> None:
    """The codec's refusals, predicted from the wire format alone: a wrong length, a
    set sign1 padding bit, a dense NaN or infinity. Anything else decodes, to a row
    that encodes back to the very bytes received."""
    name, n, data = case
    codec = get_codec(name)
    if len(data) != codec.max_size(n):
        refused = True
    elif name == "sign1":
        refused = bool(n % 8 and data[-1] >> (n % 8))
    else:
        refused = bool(non_finite(name, data).any())
    if refused:
        with pytest.raises(PayloadError):
            codec.decode(data, n)
        return
    row = codec.decode(data, n)
    values = codec.values(row, n)
    assert values.shape == (n,) and values.dtype == np.float32 and np.isfinite(values).all()
    assert codec.encode(row) == data


# Where rounding to nearest overflows: past the largest finite value by half a step
# (a tie there rounds to the even neighbour, infinity).
OVERFLOW = {
    "float32": np.inf,
    "float16": 65520.0,  # 65504 + 16
    "bfloat16": float(np.array([0x7F7F8000], "<u4").view("<f4")[0]),  # 0x7F7F + half
}
# Half the spacing of representable values, relative (normal range) and absolute
# (below it: half the smallest subnormal step).
HALF_STEP = {
    "float32": (0.0, 0.0),
    "float16": (2.0**-11, 2.0**-25),
    "bfloat16": (2.0**-8, 2.0**-134),
}


@budget(300)
@given(
    st.sampled_from(sorted(DENSE_WORDS)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=64),
)
def test_encoding_any_floats_round_trips_or_raises_value_error(
    name: str, floats: list[float]
) -> None:
    codec, row = get_codec(name), np.array(floats, dtype=np.float32)
    if not np.isfinite(row).all():
        with pytest.raises(ValueError, match="NaN or infinite"):
            codec.encode(row)
        return
    if (np.abs(row) >= OVERFLOW[name]).any():
        with pytest.raises(ValueError, match="range"):
            codec.encode(row)
        return
    back = codec.decode(codec.encode(row), len(row))
    relative, absolute = HALF_STEP[name]
    error = np.abs(back.astype(np.float64) - row)
    assert (error <= np.maximum(relative * np.abs(row.astype(np.float64)), absolute)).all()
