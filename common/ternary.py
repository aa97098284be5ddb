"""The ternary codec: one vote of -1, 0 (the gradient is exactly 0: abstain) or +1 per
coordinate, in 0.07 to 0.53 bit each on real MNIST Net gradients.

Row (in memory), fixed: (2B,) uint8, B = ceil(N/8): the packed sign plane (bit 1 = +1,
0 wherever the coordinate is 0), then the packed nonzero plane (bit 1 = -1 or +1);
little bit order, zero padding past coordinate N in both planes.

Wire: byte 0 is the form. The encoder sends the shorter; the decoder needs only N.
  0 plain    the canonical row's 2B bytes: the worst case, so max_size = 1 + 2B.
  1 packed   varint K (LEB128), K x (varint rows, varint cols): blocks laid one after
             another, each row-major, sum rows * cols = N; K = 0 is one (1, N) block (no
             layout). Then, to the end, one raw LZMA2 stream (128 KiB dictionary) whose
             output is exactly these byte-aligned parts:
    models   K bytes: 0 = the block's signs are predicted per row; r in 1..32 = by
             factors of rank r (blocks of >= 4096 coordinates, factors smaller than it)
    factors  per factor block, in order: uint32 LE class step >= 1, then int8 a (rows x
             r) and int8 b (cols x r), row-major
    rows     a byte per row of the row-model blocks: bit 0 = the row's majority sign is
             +; bits 1-4 = its class, min(15, 16 sqrt(2 s)) for a share s of minority signs
    zeros    the nonzero plane, B bytes, as in the row
    flips    a bit per nonzero coordinate, 1 = its sign is not the predicted one. Row
             model: predicted = the row's majority, class = the row's. Factor model:
             m = a @ b.T (int32, exact on both sides), predicted = + where m >= 0, class
             = 31 - min(15, |m| // step). Coordinates in order of class (a stable sort).

Why (benchmarks/zero_sets.py: real MNIST Net gradients, rounds 0-300, batch 4/64/904):
- Signs are not coin flips. dW = delta.T @ x with x >= 0 after a ReLU, so a row (a unit)
  leans to one sign: given its majority, a row's signs hold 0.13-0.72 bit each. And
  delta ~ W2.T @ (p - y) makes fc1's gradient nearly rank 10: given the signs of a rank-8
  fit, fc1's hold 0.18-0.28 bit each at batch 64 and 904 (0.63-0.71 given row majorities).
  Rows alone made payloads of 0.73 and 0.74 bit per coordinate at round 0, batch 64 and
  904; with factors (4-bit, 12 KiB before LZMA2) they are 0.52 and 0.47. The encoder
  keeps factors where its entropy estimate says they pay: fc1, mostly.
- Zeros (dead units = rows, dead inputs = columns, repeated column patterns at batch 4):
  the nonzero plane through LZMA2 cost less over the 12 measured points than row and
  column flags plus a residual bitmap (188 vs 207 kbit), and is simpler.
- Sorted by class, flips of alike odds sit together and LZMA2's adaptive bit coder
  (lc = lp = pb = 0) gets close to their entropy; zlib was 3-16 %, bz2 10-30 % larger.
- Speed: 582k coordinates encode in 15-27 ms and decode in 6-10 ms on a loaded 2-core
  machine; the randomised SVD and the int32 products are a quarter of the encode.
"""

from __future__ import annotations

import lzma
import math
from collections.abc import Sequence

import numpy as np

from common import ternary_streams as streams
from common.codec import packed_size
from common.codecs import Codec, Layout, PayloadError, register

PLAIN, PACKED = 0, 1
_DICT = 1 << 17  # LZMA2 dictionary: the decoder's memory; matches further back are rare
_DECODER = [{"id": lzma.FILTER_LZMA2, "dict_size": _DICT}]
# lc = lp = pb = 0: the parts are bits, not text; a byte's neighbours predict it no better.
# hc4, nice_len 32, depth 8: within 0.3 % of preset 6's size in 2/3 of its time.
_ENCODER = [
    {"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": _DICT, "lc": 0, "lp": 0, "pb": 0,
     "mf": lzma.MF_HC4, "nice_len": 32, "depth": 8}
]  # fmt: skip


def ternary_row(values: np.ndarray) -> np.ndarray:
    """(N,) float -> (2B,) uint8 row: sign plane (v > 0), then nonzero plane (v != 0)."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a flat vector, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("gradient has NaN or infinite entries: refusing to send its signs")
    return np.concatenate(
        (np.packbits(values > 0, bitorder="little"), np.packbits(values != 0, bitorder="little"))
    )


def planes(row: np.ndarray, num_coords: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., 2B) row(s) -> the (..., B) sign plane and (..., B) nonzero plane, as views."""
    width = packed_size(num_coords)
    if row.ndim < 1 or row.shape[-1] != 2 * width:
        raise ValueError(
            f"a ternary row of {num_coords} coordinates is ({2 * width},), got {row.shape}"
        )
    return row[..., :width], row[..., width:]


def layout_of(shapes: Sequence[tuple[int, ...]]) -> Layout:
    """PyTorch parameter shapes -> blocks: a weight (out, *rest) is (out, prod(rest)), a
    vector (1, n); empty tensors hold no coordinate and have no block."""
    blocks: list[tuple[int, int]] = []
    for shape in shapes:
        size = math.prod(shape)
        if size:
            blocks.append((shape[0], size // shape[0]) if len(shape) > 1 else (1, size))
    return tuple(blocks)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | value & 0x7F)
        value >>= 7
    return bytes(out + bytes([value]))


def _read_varint(data: bytes, at: int, limit: int, what: str) -> tuple[int, int]:
    """(value, next offset); PayloadError past `limit`, at the end of data, or overlong."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise PayloadError(f"packed ternary header ends inside the {what}")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        if value > limit or (byte == 0 and shift):
            raise PayloadError(f"packed ternary header: bad {what} (over {limit} or overlong)")
        if byte < 0x80:
            return value, at + 1
        at, shift = at + 1, shift + 7


def _read_layout(data: bytes, num_coords: int) -> tuple[Layout, int]:
    """The blocks a packed payload declares, checked to cover exactly `num_coords`."""
    count, at = _read_varint(data, 1, num_coords, "block count")
    if count == 0:
        return ((1, num_coords),), at
    blocks: list[tuple[int, int]] = []
    total = 0
    for _ in range(count):
        rows, at = _read_varint(data, at, num_coords, "block rows")
        cols, at = _read_varint(data, at, num_coords, "block cols")
        total += rows * cols
        if rows == 0 or cols == 0 or total > num_coords:
            raise PayloadError(
                f"packed ternary header: block {len(blocks)} ({rows} x {cols}) is empty "
                f"or goes past the {num_coords} coordinates"
            )
        blocks.append((rows, cols))
    if total != num_coords:
        raise PayloadError(f"packed ternary blocks cover {total} coordinates, not {num_coords}")
    return tuple(blocks), at


def defect(rows: np.ndarray, num_coords: int) -> str | None:
    """What makes (..., 2B) rows non-canonical (a plain payload must not be, and an
    aggregator makes them canonical), or None."""
    signs, nonzero = planes(rows, num_coords)
    if (signs & ~nonzero).any():
        return "a sign bit is set on a zero coordinate"
    if num_coords % 8 and ((signs[..., -1] | nonzero[..., -1]) >> (num_coords % 8)).any():
        return "padding bits past the last coordinate must be zero"
    return None


def _unpack_packed(data: bytes, num_coords: int) -> np.ndarray:
    """A packed payload -> its row; PayloadError for anything an encoder does not write."""
    layout, at = _read_layout(data, num_coords)
    # The most the parts can hold (factors are smaller than their block): output past it
    # is refused, not buffered.
    bound = (
        5 * len(layout) + len(streams.rows_of(layout)[0]) + num_coords + 2 * packed_size(num_coords)
    )
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_DECODER)
    try:
        parts = decompressor.decompress(data[at:], max_length=bound + 1)
    except lzma.LZMAError as error:
        raise PayloadError(f"packed ternary stream is corrupt ({error})") from None
    if not decompressor.eof:
        too_long = len(parts) > bound
        raise PayloadError(
            "packed ternary stream holds more than the coordinates need"
            if too_long
            else "packed ternary stream is truncated"
        )
    if decompressor.unused_data:
        raise PayloadError(
            f"{len(decompressor.unused_data)} bytes follow the packed ternary stream"
        )
    offset = 0

    def read(count: int) -> bytes:
        nonlocal offset
        if offset + count > len(parts):
            raise PayloadError("packed ternary stream ends before its last part")
        offset += count
        return parts[offset - count : offset]

    try:
        signs, nonzero = streams.join(layout, read)
    except streams.Malformed as error:
        raise PayloadError(f"packed ternary stream: {error}") from None
    if offset != len(parts):
        raise PayloadError(f"packed ternary stream has {len(parts) - offset} bytes past its parts")
    return np.concatenate(
        (np.packbits(signs, bitorder="little"), np.packbits(nonzero, bitorder="little"))
    )


class Ternary(Codec):
    """Signs with abstentions, packed by rows of a layout (see the module docstring)."""

    name, wire_id, bits = "ternary", 5, 1  # bits: it stays at or under one on real votes

    def __init__(self, layout: Layout | None = None) -> None:
        if layout is not None:
            layout = tuple((int(r), int(c)) for r, c in layout)
            if not layout or any(r < 1 or c < 1 for r, c in layout):
                raise ValueError(
                    f"a layout is a non-empty tuple of (rows, cols) >= 1, got {layout}"
                )
        self.layout = layout

    def bound(self, layout: Layout) -> Ternary:
        """This codec with a layout (() for none): smaller payloads, read by any Ternary."""
        return Ternary(layout or None)

    def max_size(self, num_coords: int) -> int:
        return 1 + 2 * packed_size(num_coords)

    def encode(self, row: np.ndarray) -> bytes:
        row = np.asarray(row)
        if row.dtype != np.uint8 or row.ndim != 1 or row.size % 2:
            raise ValueError(f"a ternary row is (2B,) uint8, got {row.dtype} {row.shape}")
        width = row.size // 2
        # Without a layout the padding cannot be told from coordinates: all 8B are coded,
        # which gives the same bytes when the padding is zero (ternary_row's rows).
        num_coords = sum(r * c for r, c in self.layout) if self.layout else 8 * width
        if packed_size(num_coords) != width:
            raise ValueError(f"the layout has {num_coords} coordinates, the row {row.size} bytes")
        bits = np.unpackbits(row.reshape(2, width), axis=1, count=num_coords, bitorder="little")
        nonzero = bits[1].view(bool)
        signs = bits[0].view(bool) & nonzero  # canonical: no sign on a zero coordinate
        canonical = row.reshape(2, width) & row[width:]  # the same, on the packed bytes
        if num_coords % 8:
            canonical[:, -1] &= (1 << num_coords % 8) - 1  # padding cleared
        plain = bytes([PLAIN]) + canonical.tobytes()
        if not num_coords:
            return plain
        layout = self.layout or ((1, num_coords),)
        header = [_varint(len(self.layout) if self.layout else 0)]
        header += [_varint(n) for block in self.layout or () for n in block]
        parts = streams.split(layout, signs, nonzero)
        body = lzma.compress(parts, format=lzma.FORMAT_RAW, filters=_ENCODER)
        packed = bytes([PACKED]) + b"".join(header) + body
        return packed if len(packed) < len(plain) else plain

    def validate(self, data: bytes, num_coords: int) -> None:
        self.decode(data, num_coords)

    def _decode(self, data: bytes, num_coords: int) -> np.ndarray:
        return self.decode(data, num_coords)

    def decode(self, data: bytes, num_coords: int) -> np.ndarray:
        """Validated and decoded in one pass (a packed payload is checked by reading it)."""
        limit = self.max_size(num_coords)
        if not 0 < len(data) <= limit:
            raise PayloadError(f"ternary payload has {len(data)} bytes, needs 1 to {limit}")
        if data[0] == PACKED:
            return _unpack_packed(bytes(data), num_coords)
        if data[0] != PLAIN:
            raise PayloadError(f"unknown ternary payload form {data[0]} (0 plain, 1 packed)")
        if len(data) != limit:
            raise PayloadError(f"plain ternary payload has {len(data)} bytes, needs {limit}")
        row = np.frombuffer(data, dtype=np.uint8, offset=1)
        problem = defect(row, num_coords)
        if problem:
            raise PayloadError(f"plain ternary payload: {problem}")
        return row

    def values(self, row: np.ndarray, num_coords: int) -> np.ndarray:
        signs, nonzero = planes(np.asarray(row), num_coords)
        unpack = np.unpackbits(
            np.stack((signs, nonzero)), axis=1, count=num_coords, bitorder="little"
        )
        # In int8, so a zero is 0.0, never -0.0.
        return ((2 * unpack[0].astype(np.int8) - 1) * unpack[1]).astype(np.float32)

    def check_rows(self, rows: np.ndarray, num_coords: int) -> None:
        """Type and shape only, as Sign1's: an aggregator makes rows canonical itself."""
        if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8:
            kind = rows.dtype if isinstance(rows, np.ndarray) else type(rows).__name__
            raise ValueError(f"ternary votes must be a uint8 numpy array, got {kind}")
        width = 2 * packed_size(num_coords)
        if rows.ndim != 2 or rows.shape[1] != width:
            raise ValueError(
                f"ternary votes must have shape (M, {width}) for {num_coords} coordinates, "
                f"got {rows.shape}"
            )


# Registered here, not in common/codecs.py, which imports this module last: either
# module may be imported first and the registry still ends with "ternary".
register(Ternary)
