"""A block of coordinates of packed votes as numbers, for the weighted (LLR) vote.

The LLR decoder walks the coordinates block by block (llr.py); these helpers turn a
block of packed rows into what the weighted sum needs and the decided values back
into packed form, for both row forms (common/codecs.py):

- sign1 (coin zeros): a vote is a bit b (1 = +1); sum_m w Y = 2 sum_m w b - sum_m w,
  one einsum over the unpacked bits, as before abstention existed. The decision is
  a bool per coordinate; a sum of exactly 0 takes the tie coin's bit.
- ternary (abstaining zeros): a vote is Y in {-1, 0, +1} (int8); sum_m w Y is one
  einsum. The decision is sign(sum) in {-1, 0, +1}: exactly 0 (a tie, or nobody
  voted) is U = 0, the authors' torch.sign.

In both the weights lie on weights.py's grid, so the sums are exact and the decision
does not depend on summation order. A vote disagrees with the decision where
Y != U, compared as they are (an abstention disagrees with U = +-1 and agrees with
U = 0, the authors' `sign(g) == U`).
"""

from __future__ import annotations

import numpy as np
from bitarray import bitarray
from bitarray.util import count_xor

from common.codec import packed_size
from common.ternary import planes


def _unpack(packed: np.ndarray, count: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=count, bitorder="little")


def votes_block(votes: np.ndarray, lo: int, hi: int, num_coords: int, abstain: bool) -> np.ndarray:
    """Coordinates [lo, hi) of (M, row) packed votes (lo a multiple of 8): (M, c) uint8
    bits for sign1, (M, c) int8 values in {-1, 0, +1} for ternary rows."""
    blo, bhi = lo // 8, -(-hi // 8)
    bits = _unpack(votes[:, blo:bhi], hi - lo)
    if not abstain:
        return bits
    nbytes = packed_size(num_coords)
    nonzero = _unpack(votes[:, nbytes + blo : nbytes + bhi], hi - lo).view(np.int8)
    # canonical rows: the sign bit is 0 where nonzero is 0, so 2b - nz is -1, 0 or +1
    return (bits.view(np.int8) << 1) - nonzero


def weighted_total(weights: np.ndarray, block: np.ndarray, abstain: bool) -> np.ndarray:
    """(c,) sum_m w_m Y_m for (M, c) or (M,) weights and a block of votes_block."""
    per_coordinate = weights.ndim == 2
    if abstain:
        return np.einsum("ij,ij->j" if per_coordinate else "i,ij->j", weights, block)
    if per_coordinate:
        return 2 * np.einsum("ij,ij->j", weights, block) - weights.sum(axis=0)
    return 2 * np.einsum("i,ij->j", weights, block) - weights.sum()


def decide(total: np.ndarray, coin: np.ndarray | None, lo: int, hi: int) -> np.ndarray:
    """The decided block: bool (sum > 0, ties by the packed `coin`) for sign1, int8
    sign(sum) when `coin` is None (abstaining zeros)."""
    if coin is None:
        return np.sign(total).astype(np.int8)
    decided = total > 0
    decided |= (total == 0) & _unpack(coin[lo // 8 : -(-hi // 8)], hi - lo).view(bool)
    return decided


def pack_decided(
    decision: np.ndarray, decided: np.ndarray, lo: int, hi: int, num_coords: int
) -> None:
    """Write a decided block into the packed decision row (ternary when int8)."""
    blo, bhi = lo // 8, -(-hi // 8)
    if decided.dtype != np.int8:
        decision[blo:bhi] = np.packbits(decided, bitorder="little")
        return
    nbytes = packed_size(num_coords)
    decision[blo:bhi] = np.packbits(decided > 0, bitorder="little")
    decision[nbytes + blo : nbytes + bhi] = np.packbits(decided != 0, bitorder="little")


def decided_block(
    decision: np.ndarray, lo: int, hi: int, num_coords: int, abstain: bool
) -> np.ndarray:
    """A block of a given decision row as decide() returns it."""
    if not abstain:
        return _unpack(decision[lo // 8 : -(-hi // 8)], hi - lo).view(bool)
    return votes_block(decision[np.newaxis, :], lo, hi, num_coords, True)[0]


def disagreements(vote: np.ndarray, decision: np.ndarray, num_coords: int, abstain: bool) -> int:
    """Coordinates where a packed vote's value differs from the packed decision's."""
    if not abstain:
        # count_xor on buffer-backed bitarrays: no copy, no unpacking (benchmarks/aggregate.py)
        return int(
            count_xor(
                bitarray(buffer=vote, endian="little"), bitarray(buffer=decision, endian="little")
            )
        )
    # canonical ternary rows: a difference in either plane (or both: +1 against 0) is one
    vote_signs, vote_nonzero = planes(vote, num_coords)
    signs, nonzero = planes(decision, num_coords)
    differ = (vote_signs ^ signs) | (vote_nonzero ^ nonzero)
    return int(np.bitwise_count(differ).sum(dtype=np.int64))


BLOCK_ELEMENTS = 2**18  # per coordinate block, M x c: the temporaries stay in L2 (measured)


def block_size(num_voters: int) -> int:
    """Coordinates per block for M voters: a multiple of 64, between 1024 and 65536."""
    return min(65536, max(1024, BLOCK_ELEMENTS // num_voters // 64 * 64))
