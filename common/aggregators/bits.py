"""Kernels on packed sign bits (bit 1 = +1, little bit order, as common.codec).

The majority vote never unpacks: the M packed rows are read as uint64 words and
added "vertically" with a carry-save adder tree, which leaves the per-coordinate
vote count as bit planes (plane j holds bit j of the count of +1 votes for 64
coordinates per word). The count is then compared with M/2 bitwise, most
significant plane first. Cost: about 5 word-wise operations per voter, against one
byte per vote per coordinate for unpack-and-sum (benchmarks/aggregate.py).

Ties: a coordinate with exactly M/2 votes for +1 (only possible for even M) takes
its bit from `tie_coin`, a fair coin drawn from coin_rng(seed, round, TIE_COIN_KEY).
The whole vector is drawn every time and read only where a tie occurs, so the bit
a coordinate gets depends on the run seed and the round alone, not on which other
coordinates happen to tie. A tie therefore neither always pushes +1 nor stalls
(one bit cannot say 0), and every replay decides alike.
"""

from __future__ import annotations

import numpy as np

from common.codec import coin_rng, packed_size
from common.ternary import defect, planes

TIE_COIN_KEY = 0x71E  # purpose key for coin_rng: the coin that breaks tied votes


def padding_mask(num_coords: int) -> int:
    """Mask of the bits of the last byte that hold coordinates."""
    tail = num_coords % 8
    return (1 << tail) - 1 if tail else 0xFF


def clear_padding(votes: np.ndarray, num_coords: int) -> np.ndarray:
    """Votes with the unused high bits of the last byte zeroed (copy only when needed).

    The codec promises zero padding; a sender that breaks the promise must not
    change a count or a tie, so the bits are ignored rather than trusted.
    """
    mask = padding_mask(num_coords)
    if mask != 0xFF and np.any(votes[:, -1] & ~np.uint8(mask)):
        votes = votes.copy()
        votes[:, -1] &= np.uint8(mask)
    return votes


def tie_coin(seed: int, round_index: int, num_coords: int) -> np.ndarray:
    """(ceil(N/8),) uint8: one fair packed coin bit per coordinate for this round."""
    nbytes = packed_size(num_coords)
    coin = np.frombuffer(coin_rng(seed, round_index, TIE_COIN_KEY).bytes(nbytes), np.uint8)
    coin = coin.copy()
    coin[-1] &= np.uint8(padding_mask(num_coords))
    return coin


def as_words(rows: np.ndarray) -> np.ndarray:
    """(M, B) uint8 -> (M, ceil(B/8)) uint64, zero-padded; a view when B % 8 == 0."""
    num_rows, nbytes = rows.shape
    if nbytes % 8 == 0 and rows.flags.c_contiguous:
        return rows.view(np.uint64)
    padded = np.zeros((num_rows, -(-nbytes // 8) * 8), dtype=np.uint8)
    padded[:, :nbytes] = rows
    return padded.view(np.uint64)


def count_planes(words: np.ndarray) -> list[np.ndarray]:
    """(M, W) uint64 rows -> bit planes of the per-bit-position count of ones.

    A Wallace tree of full adders (3 inputs of weight 2^j -> a sum of weight 2^j and
    a carry of weight 2^(j+1), five word operations) and, when two inputs remain, a
    half adder. planes[j] holds bit j of the count; len(planes) = M.bit_length().
    """
    levels: list[list[np.ndarray]] = [list(words)]
    planes: list[np.ndarray] = []
    j = 0
    while j < len(levels):
        pending = levels[j]
        while len(pending) > 1:
            if len(pending) >= 3:
                a, b, c = pending.pop(), pending.pop(), pending.pop()
                a_xor_b = a ^ b
                carry = (a & b) | (a_xor_b & c)
                pending.append(a_xor_b ^ c)
            else:
                a, b = pending.pop(), pending.pop()
                carry = a & b
                pending.append(a ^ b)
            if j + 1 == len(levels):
                levels.append([])
            levels[j + 1].append(carry)
        planes.append(pending[0])
        j += 1
    return planes


def compare_planes(planes: list[np.ndarray], threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Bitwise (count > threshold, count == threshold); threshold < 2**len(planes)."""
    greater = np.zeros_like(planes[0])
    equal = np.full_like(planes[0], np.uint64(0xFFFF_FFFF_FFFF_FFFF))
    for j in range(len(planes) - 1, -1, -1):
        if (threshold >> j) & 1:
            equal &= planes[j]  # threshold has a 1 here: a 0 in the count means "less"
        else:
            greater |= equal & planes[j]
            equal &= ~planes[j]
    return greater, equal


def majority_packed(votes: np.ndarray, num_coords: int, coin: np.ndarray | None) -> np.ndarray:
    """(M, ceil(N/8)) uint8 clean votes -> (ceil(N/8),) uint8 packed majority.

    `coin` (packed) decides coordinates with exactly M/2 votes for +1; it may be None
    for odd M, where no tie can occur.
    """
    num_voters, nbytes = votes.shape
    greater, equal = compare_planes(count_planes(as_words(votes)), num_voters // 2)
    if num_voters % 2 == 0:
        if coin is None:
            raise ValueError("an even number of voters needs a tie coin")
        greater |= equal & as_words(coin[np.newaxis, :])[0]
    decision = greater.view(np.uint8)[:nbytes].copy()
    decision[-1] &= np.uint8(padding_mask(num_coords))
    return decision


# ---- ternary rows: abstaining zeros (--zeros abstain) ------------------------------------
#
# A ternary row is two packed planes, [signs | nonzero] (common/ternary.py, `planes`):
# bit n of the nonzero plane says the coordinate votes at all, bit n of the sign plane
# which way. A vote is then +1 where sign & nonzero, -1 where nonzero & ~sign, 0 elsewhere.


def canonical_ternary(rows: np.ndarray, num_coords: int) -> np.ndarray:
    """Rows whose sign bits are 0 wherever the nonzero bit is 0 and whose padding is 0
    (common/ternary.defect names what breaks that), copied only when needed: as for
    sign1, a sender's promise is enforced, not trusted."""
    if defect(rows, num_coords) is None:
        return rows
    rows = rows.copy()
    mask = np.uint8(padding_mask(num_coords))
    signs, nonzero = planes(rows, num_coords)
    signs &= nonzero
    signs[..., -1] &= mask
    nonzero[..., -1] &= mask
    return rows


def compare_counts(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bitwise (count_a > count_b, count_a == count_b) of two bit-sliced counts with the
    same number of planes, most significant plane first."""
    greater = np.zeros_like(a[0])
    equal = np.full_like(a[0], np.uint64(0xFFFF_FFFF_FFFF_FFFF))
    for j in range(len(a) - 1, -1, -1):
        greater |= equal & a[j] & ~b[j]
        equal &= ~(a[j] ^ b[j])
    return greater, equal


def ternary_majority(rows: np.ndarray, num_coords: int) -> np.ndarray:
    """(M, 2B) canonical ternary votes -> (2B,) ternary decision: sign(#(+1) - #(-1)),
    0 where the counts are equal (a tie, or nobody voted): U = 0 leaves the coordinate
    where it is, as torch.sign does in the authors' code. No coin is needed."""
    nbytes = packed_size(num_coords)
    signs, nonzero = planes(rows, num_coords)
    up = count_planes(as_words(np.ascontiguousarray(signs)))
    down = count_planes(as_words(np.ascontiguousarray(nonzero & ~signs)))
    greater, equal = compare_counts(up, down)
    # Canonical by construction: a sign bit needs up > down (so the counts differ), and
    # padding coordinates count 0 both ways (equal: no bit in either plane).
    decision = np.empty(2 * nbytes, np.uint8)
    decision[:nbytes] = greater.view(np.uint8)[:nbytes]
    decision[nbytes:] = (~equal).view(np.uint8)[:nbytes]
    return decision


def majority(votes: np.ndarray, num_coords: int, coin: np.ndarray | None) -> np.ndarray:
    """The plain majority of clean rows: sign1 with the tie `coin`, ternary (abstaining
    zeros, U = 0 on a tie) when `coin` is None."""
    if coin is None:
        return ternary_majority(votes, num_coords)
    return majority_packed(votes, num_coords, coin)
