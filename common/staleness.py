"""Asynchronous updates, the maths: how much a stale update counts, and how it is applied.

An update trained from model version tau reaches a server at version t; its staleness
is t - tau >= 0. FedAsync (Xie, Koyejo, Gupta 2019, eqs. in section 4) mixes the
client's model into the server's at once,

    x <- (1 - a_t) x + a_t x_new,      a_t = alpha * s(t - tau),

with s one of
    constant     s(d) = 1
    polynomial   s(d) = (d + 1) ** -a
    hinge        s(d) = 1                      if d <= b
                        1 / (a (d - b) + 1)    otherwise.

FedBuff (Nguyen et al. 2022) buffers K client deltas and then steps
x <- x + eta_g * mean_k(c_k * delta_k), with c_k = 1 / sqrt(1 + d_k) when scaled by
staleness, else 1.

Every replica of a model must reach the same bits, so each rule is one fixed sequence
of float32 operations: `(1 - a) * x + a * x_new` (the paper's form, which also keeps
x_new exactly at a = 1, where `x + a (x_new - x)` would round) and the buffer's sum in
arrival order, then one multiply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STALENESS_FUNCTIONS = ("constant", "polynomial", "hinge")


def staleness_weight(kind: str, staleness: int, a: float, b: int) -> float:
    """s(t - tau) of FedAsync for one update (`a`, `b`: the function's parameters)."""
    if staleness < 0:
        raise ValueError(f"staleness must be >= 0, got {staleness}")
    if kind == "constant":
        return 1.0
    if kind == "polynomial":
        return float((staleness + 1) ** -a)
    if kind == "hinge":
        return 1.0 if staleness <= b else 1.0 / (a * (staleness - b) + 1.0)
    raise ValueError(f"staleness function must be one of {STALENESS_FUNCTIONS}, got {kind!r}")


def mix(flat: np.ndarray, local: np.ndarray, weight: float) -> np.ndarray:
    """FedAsync's x <- (1 - a) x + a x_new in float32 (1 - a rounded once, from float64)."""
    keep, take = np.float32(1.0 - weight), np.float32(weight)
    return (keep * flat + take * local).astype(np.float32, copy=False)


def buffer_scale(staleness: int, scaled: bool) -> float:
    """FedBuff's per-update factor: 1 / sqrt(1 + staleness) when `scaled`, else 1."""
    return 1.0 / math.sqrt(1.0 + staleness) if scaled else 1.0


def buffered_step(
    flat: np.ndarray, deltas: Sequence[np.ndarray], scales: Sequence[float], server_lr: float
) -> np.ndarray:
    """FedBuff's x + eta_g * mean_k(c_k * delta_k): the scaled deltas summed in arrival
    order (float32), then one multiply by eta_g / K."""
    if not deltas:
        raise ValueError("a FedBuff step needs at least one buffered delta")
    total = np.zeros_like(flat, dtype=np.float32)
    for delta, scale in zip(deltas, scales, strict=True):
        total += np.float32(scale) * delta
    return (flat + np.float32(server_lr / len(deltas)) * total).astype(np.float32, copy=False)
