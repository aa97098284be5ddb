"""The 1-bit sign codec: float vectors <-> packed sign bits.

Convention, on the wire and in memory: bit 1 means +1, bit 0 means -1, packed
8 coordinates per byte in little bit order (coordinate n lives in byte n // 8,
bit n % 8). The last byte's unused high bits are always 0.

Zeros: one bit cannot say "zero". A coordinate whose gradient is exactly 0 gets
its bit from a seeded fair coin, so a dead coordinate random-walks around its
value instead of drifting one way round after round. The coin is seeded by the
caller (from run seed, client id and round) so every replay draws the same bits.
"""

from __future__ import annotations

import zlib

import numpy as np


def packed_size(num_coords: int) -> int:
    """Bytes needed for `num_coords` sign bits."""
    return (num_coords + 7) // 8


def sign_bits(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,) float -> (N,) bool, True where the sign is +1; exact zeros get a coin flip."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a flat vector, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("gradient has NaN or infinite entries: refusing to send its signs")
    bits = values > 0
    zeros = np.flatnonzero(values == 0)
    if zeros.size:
        bits[zeros] = rng.integers(0, 2, size=zeros.size, dtype=np.uint8).astype(bool)
    return bits


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(N,) bool -> (ceil(N/8),) uint8, little bit order."""
    return np.packbits(np.asarray(bits, dtype=bool), bitorder="little")


def unpack_bits(packed: np.ndarray | bytes, num_coords: int) -> np.ndarray:
    """(ceil(N/8),) uint8 -> (N,) bool. Raises ValueError on a length mismatch."""
    buf = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, bytes) else packed
    if buf.shape[-1] != packed_size(num_coords):
        raise ValueError(
            f"{buf.shape[-1]} bytes cannot hold {num_coords} signs "
            f"(expected {packed_size(num_coords)})"
        )
    return np.unpackbits(buf, count=num_coords, bitorder="little", axis=-1).astype(bool)


def pack_signs(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,) float -> (ceil(N/8),) uint8: the signs of `values`, zeros by coin."""
    return pack_bits(sign_bits(values, rng))


def unpack_signs(packed: np.ndarray | bytes, num_coords: int) -> np.ndarray:
    """(ceil(N/8),) uint8 -> (N,) float32 in {-1, +1}."""
    bits = unpack_bits(packed, num_coords)
    return np.where(bits, np.float32(1.0), np.float32(-1.0))


def checksum(payload: bytes | np.ndarray) -> int:
    """CRC-32 of a packed payload, as carried in Vote/Decision.crc32."""
    if isinstance(payload, np.ndarray):
        payload = np.ascontiguousarray(payload).tobytes()
    return zlib.crc32(payload)


def coin_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator determined by the run seed and integer keys (client, round, purpose)."""
    return np.random.default_rng([seed, *keys])
