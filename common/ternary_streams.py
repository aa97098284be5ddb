"""The parts of a packed ternary payload, built and read back with whole-array NumPy.

common/ternary.py owns the format (its docstring says it byte by byte); this module
predicts each nonzero coordinate's sign, with a confidence class, and turns the two bit
planes of a row into the parts an LZMA2 stream carries, and back. Passes run over all
coordinates or all rows at once; the only Python loop is over factor blocks, of which
there are at most N / 4096: a header of many tiny blocks cannot stall the decoder.

A *layout* is a tuple of (rows, cols) blocks laid one after another in the flat vector,
each row-major; rows of all blocks are numbered globally, in that order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

Layout = tuple[tuple[int, int], ...]  # as common.codecs.Layout (not imported: codecs imports us)
ROW_CLASSES = 16  # classes 0..15: a row's share of minority signs; 16..31: factor margins
RANK = 8  # the encoder's factor rank: 4 costs 30-50 % more bits on fc1, 16 no fewer
LEVELS = 7  # factor entries in -7..7: 3 bits predict worse, 6 cost more than they add
MAX_RANK = 32  # what a decoder accepts: bounds its work to 32 multiply-adds a coordinate
MIN_FACTOR_BLOCK = 4096  # coordinates: smaller blocks gain too little to pay the factors


class Malformed(ValueError):
    """A part that no encoder writes (common/ternary.py reports it as a PayloadError)."""


@functools.lru_cache(maxsize=8)  # one layout per run, seen every round on both sides
def rows_of(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(R,) flat offset of each row's first coordinate, (R,) its length (its block's cols)."""
    rows = np.array([r for r, _ in layout], dtype=np.int64)
    cols = np.array([c for _, c in layout], dtype=np.int64)
    length = np.repeat(cols, rows)
    return np.cumsum(length) - length, length


def _entropy(classes: np.ndarray, flips: np.ndarray) -> float:
    """Bits of `flips` coded with one adaptive probability per class (the LZMA2 ideal)."""
    counts = np.bincount(2 * classes + flips, minlength=4 * ROW_CLASSES).reshape(-1, 2)
    total = counts.sum(axis=1)
    p = counts / np.maximum(total, 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.nansum(counts * np.log2(p)))


def _row_model(
    signs: np.ndarray, nonzero: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: (R,) majority sign (ties +), (R,) class 0..15 of its share of minority
    signs (0 .. 1/2), finer near 0 where the entropy changes fastest, and (R,) the bits
    its flips cost at that share."""
    count = np.add.reduceat(nonzero, start, dtype=np.int64)
    majority = 2 * np.add.reduceat(signs, start, dtype=np.int64) >= count
    flips = nonzero & (signs != np.repeat(majority, length))
    share = np.add.reduceat(flips, start, dtype=np.int64) / np.maximum(count, 1)
    classes = np.minimum(ROW_CLASSES * np.sqrt(2 * share), ROW_CLASSES - 1).astype(np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nan_to_num(share * np.log2(share) + (1 - share) * np.log2(1 - share))
    return majority, classes, count * h


def _margins(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(r*c,) int32 a @ b.T, computed in float32 BLAS: every product and partial sum is an
    integer under 2**24 (|a|, |b| <= 128, rank <= 32), so exact in any order, and both
    sides agree to the last bit."""
    return _matmul(a.astype(np.float32), b.T.astype(np.float32)).astype(np.int32).reshape(-1)


def _factor_prediction(step: int, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Margins -> predicted sign (margin >= 0) and class 16..31, surest first."""
    sureness = np.minimum(np.abs(margin) // step, ROW_CLASSES - 1).astype(np.uint8)
    return margin >= 0, (2 * ROW_CLASSES - 1 - sureness).astype(np.uint8)


def _matmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x @ y in slices of rows: OpenBLAS runs a product of under 2**18 multiply-adds on
    one thread, and its threaded one spins for 5-100 ms on a busy 2-core machine. (So y
    must be thin: one row of x times y is one product.)"""
    step = max(1, (1 << 18) // max(1, x.shape[1] * y.shape[1]))
    return np.concatenate([x[i : i + step] @ y for i in range(0, x.shape[0], step)])


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """(n, m) -> (n, <= m) orthonormal basis of its columns' span (through the Gram
    matrix: small eigensolves only); directions of no weight are dropped."""
    w, v = np.linalg.eigh(_matmul(y.T, y))
    keep = w > max(w.max(), 0) * 1e-6
    return _matmul(y, v[:, keep] / np.sqrt(w[keep]))


def _fit_factors(block: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(r, c) in {-1, 0, 1} -> a (r, RANK), b (c, RANK) int8 with a @ b.T ~ the
    block: gradient matrices are near low rank (fc1's ~ W2.T @ G, rank ~ classes); given
    the signs of a rank-8 fit, fc1's signs hold 0.18-0.28 bit each (0.63-0.71 given row
    majorities) at batch 64 and 904."""
    rng = np.random.default_rng(0)  # a randomised SVD; a fixed seed keeps payloads stable
    y = _matmul(block, rng.standard_normal((block.shape[1], RANK + 8), dtype=np.float32))
    for _ in range(2):  # power iterations sharpen the leading subspace
        y = _matmul(block, _matmul(block.T, _orthonormal(y)))
    q = _orthonormal(y)  # (r, m)
    if q.shape[1] < 1:
        return None
    top = _matmul(block.T, q).T  # (m, c): the block within q's span
    w, v = np.linalg.eigh(_matmul(top, top.T))
    v, w = v[:, ::-1][:, :RANK], np.maximum(w[::-1][:RANK], 0)  # leading singular pairs
    a = _matmul(q, v) * w**0.25  # u * sqrt(s), with s = sqrt(w)
    b = _matmul(top.T, v) / np.maximum(w, 1e-30) ** 0.25  # v * sqrt(s)
    if not (np.abs(a).max() > 0 and np.abs(b).max() > 0):
        return None
    a = np.round(a * (LEVELS / np.abs(a).max())).astype(np.int8)
    return a, np.round(b * (LEVELS / np.abs(b).max())).astype(np.int8)


def _factor_ok(rows: np.ndarray, cols: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Which blocks may carry factors of this rank: factors smaller than the block."""
    small = (rows + cols) * rank <= rows * cols
    return (rows * cols >= MIN_FACTOR_BLOCK) & small & (rank <= MAX_RANK)


def _blocks(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K,) rows, cols and flat offset of each block."""
    rows, cols = (np.array(x, dtype=np.int64) for x in zip(*layout, strict=True))
    return rows, cols, np.cumsum(rows * cols) - rows * cols


Found = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _try_factors(
    signs: np.ndarray, nonzero: np.ndarray, row_bits: float, shape: tuple[int, int]
) -> Found | None:
    """(step, a, b, predicted, classes) if factors code this block's signs in fewer bits
    than its rows do, else None."""
    side = 3.5 * RANK * (shape[0] + shape[1])  # 15 near-Gaussian levels: ~3.5 bits each
    if row_bits < 1.5 * side:  # factors save at most about 2/3 of the sign bits
        return None
    block = (signs.astype(np.float32) * 2 - 1) * nonzero
    fit = _fit_factors(block.reshape(shape))
    if fit is None:
        return None
    margin = _margins(*fit)
    # Classes of width 2.5 rms / 16: the surest class is the top 1-2 % of margins.
    rms = np.sqrt(np.mean(np.square(margin[nonzero], dtype=np.float64)))
    step = max(1, int(rms * 2.5 / ROW_CLASSES))
    predicted, classes = _factor_prediction(step, margin)
    if _entropy(classes[nonzero], (signs != predicted)[nonzero]) + side >= row_bits:
        return None
    return step, *fit, predicted, classes


def split(layout: Layout, signs: np.ndarray, nonzero: np.ndarray) -> bytes:
    """(N,) bool planes -> the parts (models, factors, rows, nonzero plane, flips)."""
    start, length = rows_of(layout)
    majority, row_classes, row_bits = _row_model(signs, nonzero, start, length)
    predicted, classes = np.repeat(majority, length), np.repeat(row_classes, length)
    rows, cols, offset = _blocks(layout)
    first_row = np.cumsum(rows) - rows
    models = np.zeros(len(layout), dtype=np.uint8)
    side = []
    for k in np.flatnonzero(_factor_ok(rows, cols, np.full(len(layout), RANK))):
        at = slice(int(offset[k]), int(offset[k] + rows[k] * cols[k]))
        bits = float(row_bits[first_row[k] : first_row[k] + rows[k]].sum())
        found = _try_factors(signs[at], nonzero[at], bits, (int(rows[k]), int(cols[k])))
        if found:
            step, a, b, predicted[at], classes[at] = found
            models[k] = a.shape[1]
            side.append(step.to_bytes(4, "little") + a.tobytes() + b.tobytes())
    row_bytes = ((row_classes << 1) | majority)[np.repeat(models == 0, rows)].astype(np.uint8)
    order = np.argsort(classes, kind="stable")
    order = order[nonzero[order]]
    flips = signs[order] != predicted[order]
    return b"".join((models.tobytes(), *side, row_bytes.tobytes(), _pack(nonzero), _pack(flips)))


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(bits, bitorder="little").tobytes()


def _unpack(read: Callable[[int], bytes], count: int, what: str) -> np.ndarray:
    """(count,) bool from the next ceil(count/8) bytes; the padding must be zero."""
    bits = np.unpackbits(np.frombuffer(read((count + 7) // 8), np.uint8), bitorder="little")
    if bits[count:].any():
        raise Malformed(f"padding bits after the {what} must be zero")
    return bits[:count].view(bool)


def join(layout: Layout, read: Callable[[int], bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The parts, taken with `read(n)` (n bytes or an error) -> (N,) bool planes."""
    start, length = rows_of(layout)
    rows, cols, offset = _blocks(layout)
    models = np.frombuffer(read(len(layout)), np.uint8)
    if not (_factor_ok(rows, cols, models.astype(np.int64)) | (models == 0)).all():
        raise Malformed(
            f"a block's factor rank is over {MAX_RANK}, or too large for the block, or the "
            f"block is under {MIN_FACTOR_BLOCK} coordinates"
        )
    factors = []
    for k in np.flatnonzero(models):
        step = int(np.frombuffer(read(4), "<u4")[0])
        if step == 0:
            raise Malformed(f"block {k}'s class step is 0")
        a = np.frombuffer(read(int(rows[k] * models[k])), np.int8).reshape(int(rows[k]), -1)
        b = np.frombuffer(read(int(cols[k] * models[k])), np.int8).reshape(int(cols[k]), -1)
        factors.append((slice(int(offset[k]), int(offset[k] + rows[k] * cols[k])), step, a, b))
    by_rows = np.repeat(models == 0, rows)  # (R,) rows the row model covers
    row_bytes = np.frombuffer(read(int(np.count_nonzero(by_rows))), np.uint8)
    if (row_bytes >= 2 * ROW_CLASSES).any():
        raise Malformed(f"a row byte is {row_bytes.max()}, at most {2 * ROW_CLASSES - 1}")
    majority, row_classes = np.zeros(len(start), dtype=bool), np.zeros(len(start), np.uint8)
    majority[by_rows], row_classes[by_rows] = row_bytes & 1, row_bytes >> 1
    predicted, classes = np.repeat(majority, length), np.repeat(row_classes, length)
    for at, step, a, b in factors:
        predicted[at], classes[at] = _factor_prediction(step, _margins(a, b))
    nonzero = _unpack(read, len(predicted), "nonzero plane")
    order = np.argsort(classes, kind="stable")
    order = order[nonzero[order]]  # the nonzero coordinates, in the order of the flip bits
    signs = np.zeros_like(nonzero)
    signs[order] = _unpack(read, len(order), "flip bits") != predicted[order]
    return signs, nonzero
