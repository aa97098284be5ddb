"""The learning rate of round t: constant (the paper), step decay or cosine decay.

A pure function of (base lr, schedule, round, rounds), evaluated by every replica for
its own update x <- x - lr_t * U. The base is rounded to float32 first, because the
wire carries it as a float32: the server (which holds the exact Python float) and the
clients (which hold the float32) then compute the same lr_t to the last bit.
"""

from __future__ import annotations

import math

import numpy as np

LR_SCHEDULES = ("constant", "step", "cosine")
STEP_FACTOR = 0.1  # "step": x0.1 at half the run and again at three quarters


def learning_rate_at(base: float, schedule: str, round_index: int, rounds: int) -> float:
    """lr for the update that ends round `round_index` (0-based) of a `rounds`-round run."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if not 0 <= round_index < rounds:
        raise ValueError(f"round_index must be in [0, {rounds}), got {round_index}")
    lr = float(np.float32(base))
    if schedule == "step":
        drops = int(round_index >= rounds // 2) + int(round_index >= (3 * rounds) // 4)
        return lr * STEP_FACTOR**drops
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * round_index / rounds))
    return lr
