"""Model downloads as exact deltas (common/model_delta.py): bit for bit, and small where
little changed."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from common.model_delta import DeltaError, apply_xor_delta, xor_delta
from common.staleness import mix


def _models(n: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    held = (0.05 * rng.standard_normal(n)).astype(np.float32)
    local = held - (1e-3 * rng.standard_normal(n)).astype(np.float32)  # a few SGD steps
    return held, mix(held, local, 0.6)


def test_the_delta_rebuilds_the_model_bit_for_bit() -> None:
    held, current = _models()
    rebuilt = apply_xor_delta(held, xor_delta(held, current))
    assert rebuilt.dtype == np.float32 and rebuilt.tobytes() == current.tobytes()
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45], np.float32)
    assert apply_xor_delta(held[:6], xor_delta(held[:6], special)).tobytes() == special.tobytes()


def test_a_small_change_is_a_small_delta() -> None:
    held, current = _models()
    assert len(xor_delta(held, held)) < 0.01 * held.nbytes  # nothing changed: all zeros
    delta = len(xor_delta(held, current))
    assert delta < 0.8 * current.nbytes  # high byte planes barely change
    assert delta < len(zlib.compress(current.tobytes(), 1))  # and it beats the full model


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not deflate", "does not inflate"),
        (zlib.compress(b"\0" * 8), "holds 8 bytes, the model 40000"),
    ],
)
def test_a_bad_delta_is_an_error(payload: bytes, message: str) -> None:
    held, _ = _models()
    with pytest.raises(DeltaError, match=message):
        apply_xor_delta(held, payload)
    with pytest.raises(DeltaError, match="models differ in size"):
        xor_delta(held, held[:5])
