"""A model download as the difference from the version the client holds, exactly.

In asynchronous training a client fetches the current model after every update. It
already holds an older version, so the server can send what changed. A float
difference `x_t - x_tau` would not do: `x_tau + (x_t - x_tau)` rounds, and replicas
must stay bit-identical. The bitwise XOR of the two float32 vectors is exact, and it is
mostly zeros in the high bytes (sign and exponent rarely change between versions): so
the four byte planes are stored apart (all first bytes, then all second bytes, ...,
as blosc's shuffle filter does) and deflated.

Measured here (benchmarks/model_delta.py, results/model_delta.txt) on MNIST `Net`
(N = 582,026, 2,328,104 B raw) after FedAsync updates of 20 local steps: one version
apart 1.57-1.60 MB (1.46-1.48x smaller than raw), three apart 1.71 MB (1.36x), four
1.75 MB (1.33x); the full model deflated alike is 1.97 MB (1.18x). One delta costs
60-130 ms on one core; higher deflate levels gained ~1 % for 2-3x the time.
"""

from __future__ import annotations

import zlib

import numpy as np

LEVEL = 1  # deflate level: see the module docstring


class DeltaError(ValueError):
    """A delta that does not decode to a model of the held model's size."""


def byte_planes(words: np.ndarray) -> bytes:
    """(N,) uint32 -> its 4 byte planes, one after the other."""
    return words.view(np.uint8).reshape(-1, 4).T.tobytes()


def xor_delta(held: np.ndarray, current: np.ndarray) -> bytes:
    """What a client holding `held` needs to rebuild `current` (both (N,) float32)."""
    if held.shape != current.shape:
        raise DeltaError(f"models differ in size: {held.size} and {current.size}")
    words = np.asarray(held, np.float32).view(np.uint32) ^ np.asarray(current, np.float32).view(
        np.uint32
    )
    return zlib.compress(byte_planes(words), LEVEL)


def apply_xor_delta(held: np.ndarray, delta: bytes) -> np.ndarray:
    """The model `xor_delta(held, current)` was made from: `current`, bit for bit."""
    try:
        raw = zlib.decompress(delta)
    except zlib.error as exc:
        raise DeltaError(f"the model delta does not inflate: {exc}") from None
    n = held.size
    if len(raw) != 4 * n:
        raise DeltaError(f"the model delta holds {len(raw)} bytes, the model {4 * n}")
    words = np.frombuffer(raw, np.uint8).reshape(4, n).T.copy().view(np.uint32).reshape(n)
    return (np.asarray(held, np.float32).view(np.uint32) ^ words).view(np.float32)
