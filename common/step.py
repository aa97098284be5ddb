"""The update rule every replica applies: x <- x - lr * U, in float32.

NumPy only (no torch), so the algorithms that use it load fast for the CLI.
"""

from __future__ import annotations

import numpy as np


def sign_step(flat: np.ndarray, signs: np.ndarray, learning_rate: float) -> np.ndarray:
    """x - lr * U as a new float32 array: the one update rule every replica applies.

    U is a decision's values: signs in {-1, +1} (lr * U then exact) or a dense update
    (sgd's mean). The product and the subtraction are single correctly rounded float32
    operations, so the same inputs give the same bits on every machine.
    """
    step = np.float32(learning_rate) * np.asarray(signs, dtype=np.float32)
    return np.asarray(flat, dtype=np.float32) - step
