import numpy as np
import pytest

from common.codec import checksum, coin_rng, pack_signs, packed_size
from common.wire import PayloadError, Reassembler, decision_messages, vote_messages, wire_size


def _packed(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return pack_signs(values, coin_rng(seed))


@pytest.mark.parametrize("n,chunk", [(1, 64), (583, 64), (10_000, 64), (10_000, 4096), (512, 64)])
def test_chunked_vote_reassembles(n: int, chunk: int) -> None:
    packed = _packed(n)
    messages = vote_messages(3, packed, n, chunk)
    assert len(messages) == -(-packed_size(n) // chunk)
    assembler = Reassembler(n, chunk)  # exactly the chunks the cap allows
    results = [
        assembler.add(
            m.vote.round, m.vote.num_coords, m.vote.offset, m.vote.signs, m.vote.last, m.vote.crc32
        )
        for m in messages
    ]
    assert all(r is None for r in results[:-1])
    np.testing.assert_array_equal(results[-1], packed)


def test_single_message_fits_the_one_bit_budget() -> None:
    n = 582_026  # the paper's MNIST Net
    (vote,) = vote_messages(2999, _packed(n), n, 1 << 20)
    (decision,) = decision_messages(2999, _packed(n), n, 1 << 20, model_digest=b"\0" * 32)
    assert wire_size(vote) <= n / 8 + 64
    assert wire_size(decision) <= n / 8 + 64


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
    )
    fields.update(overrides)
    return assembler.add(**fields)  # type: ignore[arg-type]


def test_bad_checksum() -> None:
    with pytest.raises(PayloadError, match="checksum mismatch"):
        _add(Reassembler(100), crc32=1)


def test_wrong_number_of_coordinates() -> None:
    with pytest.raises(PayloadError, match="declares 99 coordinates"):
        _add(Reassembler(100), num_coords=99)


def test_short_payload() -> None:
    with pytest.raises(PayloadError, match="need 13"):
        _add(Reassembler(100), data=b"\0" * 12, crc32=checksum(b"\0" * 12))


def test_oversized_payload_is_refused_before_buffering() -> None:
    with pytest.raises(PayloadError, match="exceeds 13 bytes"):
        _add(Reassembler(100), data=b"\0" * 14)


def test_out_of_order_chunk() -> None:
    with pytest.raises(PayloadError, match="chunk at byte 5"):
        _add(Reassembler(100), offset=5)


def test_nonzero_padding_bits() -> None:
    payload = b"\0" * 12 + b"\xff"
    with pytest.raises(PayloadError, match="padding bits"):
        _add(Reassembler(100), data=payload, crc32=checksum(payload))


def test_a_payload_in_more_chunks_than_its_size_needs_is_refused() -> None:
    """Endless empty (or tiny) chunks would keep a core busy: at most ceil(size/chunk)."""
    n, chunk = 1000, 64  # 125 bytes: two chunks
    assembler = Reassembler(n, chunk)
    assert assembler.max_chunks == 2
    assert assembler.add(0, n, 0, b"", False, 0) is None
    assert assembler.add(0, n, 0, b"", False, 0) is None
    with pytest.raises(PayloadError, match="more than 2 chunks"):
        assembler.add(0, n, 0, b"", False, 0)
    # After a completed payload the count starts again.
    fresh = Reassembler(n, chunk)
    for _ in range(3):
        messages = vote_messages(0, _packed(n), n, chunk)
        *_, got = (
            fresh.add(m.vote.round, n, m.vote.offset, m.vote.signs, m.vote.last, m.vote.crc32)
            for m in messages
        )
        assert got is not None
