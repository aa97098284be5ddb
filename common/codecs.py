"""Payload codecs: how an update or a decision travels, and what it is in memory.

A codec turns a *row* (the form an algorithm computes with) into the bytes of one
payload and back, and it alone decides whether received bytes are acceptable:

    sign1     row (ceil(N/8),) uint8, packed sign bits (common/codec.py's convention:
              bit 1 = +1, little bit order, zero padding); the bytes are the row
    float32   row (N,) float32; little-endian IEEE binary32
    float16   row (N,) float32; little-endian IEEE binary16 (values within +-65504)
    bfloat16  row (N,) float32; the top 16 bits of binary32, rounded to nearest even

Decoding validates first (length, padding, finite values): a payload that fails is a
PayloadError, which the server answers with INVALID_ARGUMENT, and nothing reaches the
maths. `max_size` bounds the receiver's buffer before a byte arrives; a codec whose
size depends on the data (ternary, sparse top-k) reports its worst case there and
checks the exact length in `validate`.

Each codec has a number on the wire (proto `Encoding`); `RunSettings` announces the
run's update and decision encodings, and every chunk says which one it carries.
"""

from __future__ import annotations

import abc
from typing import ClassVar, TypeVar

import numpy as np

from common.codec import packed_size, unpack_signs

# A model's parameters as blocks (rows, cols) covering the flat vector in order: what
# Codec.bound takes (common/ternary.layout_of makes one from parameter shapes).
Layout = tuple[tuple[int, int], ...]


class PayloadError(ValueError):
    """A payload that cannot be accepted (wrong length, offset, checksum or content)."""


class Codec(abc.ABC):
    name: ClassVar[str]  # "sign1", as flags and RunSettings name it
    wire_id: ClassVar[int]  # the proto Encoding value
    bits: ClassVar[int]  # bits per coordinate on the wire, for people and reports

    @abc.abstractmethod
    def max_size(self, num_coords: int) -> int:
        """The most bytes a payload of `num_coords` coordinates can have."""

    @abc.abstractmethod
    def encode(self, row: np.ndarray) -> bytes:
        """A row (this codec's in-memory form) as payload bytes; ValueError if it cannot
        be represented."""

    @abc.abstractmethod
    def validate(self, data: bytes, num_coords: int) -> None:
        """PayloadError unless `data` is a well-formed payload of `num_coords`."""

    @abc.abstractmethod
    def _decode(self, data: bytes, num_coords: int) -> np.ndarray: ...

    @abc.abstractmethod
    def values(self, row: np.ndarray, num_coords: int) -> np.ndarray:
        """(N,) float32: the coordinates a row stands for (sign1: -1 or +1)."""

    @abc.abstractmethod
    def check_rows(self, rows: np.ndarray, num_coords: int) -> None:
        """ValueError unless `rows` is an (M, row width) array of this codec's rows."""

    def decode(self, data: bytes, num_coords: int) -> np.ndarray:
        """Payload bytes -> a row, validated first (PayloadError)."""
        self.validate(data, num_coords)
        return self._decode(data, num_coords)

    def bound(self, layout: Layout) -> Codec:
        """This codec for a model of the given parameter blocks (rows, cols): a hint
        that codecs whose size depends on the data use to encode compactly (ternary);
        the others, and every decoder, ignore it."""
        return self

    def roundtrip(self, row: np.ndarray, num_coords: int) -> np.ndarray:
        """The row as a receiver sees it: what the wire keeps of it (float16 rounds)."""
        return self._decode(self.encode(row), num_coords)


def _exact_length(data: bytes, expected: int, what: str) -> None:
    if len(data) != expected:
        raise PayloadError(f"payload has {len(data)} bytes, {what} need {expected}")


class Sign1(Codec):
    """One bit per coordinate: signSGD's votes and decisions."""

    name, wire_id, bits = "sign1", 1, 1

    def max_size(self, num_coords: int) -> int:
        return packed_size(num_coords)

    def encode(self, row: np.ndarray) -> bytes:
        return np.ascontiguousarray(row, dtype=np.uint8).tobytes()

    def validate(self, data: bytes, num_coords: int) -> None:
        _exact_length(data, packed_size(num_coords), f"{num_coords} signs")
        # Garbage past the last coordinate must not sway a count: the sender's promise
        # of zero padding is checked, not trusted.
        if num_coords % 8 and data[-1] >> (num_coords % 8):
            raise PayloadError("padding bits past the last coordinate must be zero")

    def _decode(self, data: bytes, num_coords: int) -> np.ndarray:
        return np.frombuffer(data, dtype=np.uint8)

    def values(self, row: np.ndarray, num_coords: int) -> np.ndarray:
        return unpack_signs(np.ascontiguousarray(row, dtype=np.uint8), num_coords)

    def check_rows(self, rows: np.ndarray, num_coords: int) -> None:
        if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8:
            kind = rows.dtype if isinstance(rows, np.ndarray) else type(rows).__name__
            raise ValueError(f"votes must be a uint8 numpy array of packed signs, got {kind}")
        nbytes = packed_size(num_coords)
        if rows.ndim != 2 or rows.shape[1] != nbytes:
            raise ValueError(
                f"votes must have shape (M, {nbytes}) for {num_coords} coordinates, "
                f"got {rows.shape}"
            )


class _Dense(Codec):
    """Float payloads; in memory every dense row is (N,) float32."""

    dtype: ClassVar[str]  # the little-endian NumPy dtype on the wire

    def max_size(self, num_coords: int) -> int:
        return num_coords * self.bits // 8

    def encode(self, row: np.ndarray) -> bytes:
        row = np.asarray(row, dtype=np.float32)
        if not np.isfinite(row).all():
            raise ValueError("update has NaN or infinite entries: refusing to send it")
        with np.errstate(over="ignore"):  # an overflow becomes inf: refused just below
            wire = self._to_wire(row)
        if self.bits < 32 and not np.isfinite(self._from_wire(wire)).all():
            raise ValueError(
                f"update has values beyond {self.name}'s range; "
                "use --update-encoding bfloat16 or float32"
            )
        return wire.tobytes()

    def validate(self, data: bytes, num_coords: int) -> None:
        _exact_length(data, self.max_size(num_coords), f"{num_coords} {self.name} values")
        if not np.isfinite(self._from_wire(np.frombuffer(data, self.dtype))).all():
            raise PayloadError(f"{self.name} payload has NaN or infinite values")

    def _decode(self, data: bytes, num_coords: int) -> np.ndarray:
        return self._from_wire(np.frombuffer(data, self.dtype))

    def values(self, row: np.ndarray, num_coords: int) -> np.ndarray:
        return np.asarray(row, dtype=np.float32)

    def check_rows(self, rows: np.ndarray, num_coords: int) -> None:
        if not isinstance(rows, np.ndarray) or rows.dtype != np.float32:
            kind = rows.dtype if isinstance(rows, np.ndarray) else type(rows).__name__
            raise ValueError(f"updates must be a float32 numpy array, got {kind}")
        if rows.ndim != 2 or rows.shape[1] != num_coords:
            raise ValueError(
                f"updates must have shape (M, {num_coords}) for {num_coords} coordinates, "
                f"got {rows.shape}"
            )
        if not np.isfinite(rows).all():
            raise ValueError("updates have NaN or infinite values")

    def _to_wire(self, row: np.ndarray) -> np.ndarray:
        return row.astype(self.dtype, copy=False)  # float32: no copy

    def _from_wire(self, wire: np.ndarray) -> np.ndarray:
        return wire.astype(np.float32, copy=False)


class Float32(_Dense):
    name, wire_id, bits, dtype = "float32", 2, 32, "<f4"


class Float16(_Dense):
    name, wire_id, bits, dtype = "float16", 3, 16, "<f2"


class BFloat16(_Dense):
    """bfloat16: float32's exponent range at 8 bits of mantissa; NumPy has no such
    dtype, so it is float32's top half, rounded to nearest even (as hardware does)."""

    name, wire_id, bits, dtype = "bfloat16", 4, 16, "<u2"

    def _to_wire(self, row: np.ndarray) -> np.ndarray:
        u = np.ascontiguousarray(row, dtype="<f4").view("<u4").astype(np.uint64)
        rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round half to even
        return rounded.astype("<u2")

    def _from_wire(self, wire: np.ndarray) -> np.ndarray:
        return (wire.astype("<u4") << 16).view("<f4").astype(np.float32)


C = TypeVar("C", bound=type[Codec])
_BY_NAME: dict[str, Codec] = {}
_BY_WIRE: dict[int, Codec] = {}


def register(cls: C) -> C:
    """Make a codec available by name and wire number (both must be new)."""
    if cls.name in _BY_NAME or cls.wire_id in _BY_WIRE or cls.wire_id <= 0:
        raise ValueError(f"codec {cls.name!r} (wire {cls.wire_id}) clashes or is reserved")
    codec = cls()
    _BY_NAME[cls.name] = _BY_WIRE[cls.wire_id] = codec
    return cls


for _cls in (Sign1, Float32, Float16, BFloat16):
    register(_cls)


def available() -> tuple[str, ...]:
    """Codec names, in wire order."""
    return tuple(c.name for _, c in sorted(_BY_WIRE.items()))


def get_codec(name: str) -> Codec:
    codec = _BY_NAME.get(name)
    if codec is None:
        raise ValueError(f"unknown encoding {name!r}; available: {', '.join(available())}")
    return codec


def codec_for_wire(wire_id: int) -> Codec:
    """The codec a chunk's `encoding` names; PayloadError for a number we do not know."""
    codec = _BY_WIRE.get(wire_id)
    if codec is None:
        raise PayloadError(f"unknown payload encoding {wire_id}; this side knows {available()}")
    return codec


# Last, as it subclasses Codec: common/ternary.py registers "ternary" (wire 5) when it loads.
import common.ternary  # noqa: E402, F401
