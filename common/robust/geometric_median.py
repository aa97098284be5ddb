"""The geometric median by the smoothed Weiszfeld algorithm of RFA (Pillutla, Kakade,
Harchaoui 2022, "Robust aggregation for federated learning"): the point v minimising
sum_m alpha_m ||z_m - v||, alpha = weights / sum(weights).

As in RFA: start at the weighted mean, then repeat
    beta_m = alpha_m / max(nu, ||z_m - v||),   v = sum_m beta_m z_m / sum_m beta_m
with nu = 1e-6, the smoothing that keeps a step finite when v lands on a row, and stop
once the objective changes by less than 1e-7 of itself (RFA's relative test) or after
--weiszfeld-iters steps. Unlike the coordinate rules this one keeps the weights: the
median is a weighted one in RFA, and a row's pull is capped at its weight whatever
its norm, which is what bounds an attacker's influence.

Everything is float64. Rows are converted one at a time and every sum runs row by row
in row order (no BLAS), so the bits are the same on every machine and no float64 copy
of all M rows is made. Each iterate is a convex combination of the rows, so it lies in
their per-coordinate range; it is clipped there to keep rounding from leaving it (M
equal rows give that row exactly). median_of_means.py reuses weiszfeld().
"""

from __future__ import annotations

import numpy as np

from common.robust import RuleContext, rule

SMOOTHING = 1e-6  # RFA's nu: the least distance a row's weight is divided by
RELATIVE_TOLERANCE = 1e-7  # stop when |objective change| < this * objective


def _combine(
    points: np.ndarray, coefficients: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """(N,) float64: sum_k c_k points[k] / sum_k c_k, row by row, clipped to [low, high]."""
    c = coefficients / coefficients.sum()  # (K,)
    total = np.zeros(points.shape[1], dtype=np.float64)  # (N,)
    for coefficient, point in zip(c, points, strict=True):
        total += coefficient * np.asarray(point, dtype=np.float64)
    return np.clip(total, low, high, out=total)


def _distances(points: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(K,) float64: ||points[k] - v|| for each row, summed without BLAS."""
    out = np.empty(points.shape[0], dtype=np.float64)
    for k, point in enumerate(points):
        diff = np.asarray(point, dtype=np.float64) - v  # (N,)
        out[k] = np.sqrt(np.sum(diff * diff))
    return out


def weiszfeld(points: np.ndarray, weights: np.ndarray, max_iters: int) -> np.ndarray:
    """(N,) float64: the smoothed-Weiszfeld geometric median of points (K, N) (float64,
    or float32, converted row by row) under weights (K,) > 0, in at most max_iters
    steps."""
    if max_iters < 1:
        raise ValueError(f"--weiszfeld-iters must be >= 1, got {max_iters}")
    alpha = np.asarray(weights, dtype=np.float64)
    alpha = alpha / alpha.sum()  # (K,)
    low = points.min(axis=0).astype(np.float64)  # (N,) the rows' range, per coordinate
    high = points.max(axis=0).astype(np.float64)  # (N,)
    v = _combine(points, alpha, low, high)  # (N,) the weighted mean
    distances = _distances(points, v)  # (K,) kept for the next step's weights
    objective = float(np.sum(alpha * distances))
    for _ in range(max_iters):
        if objective == 0.0:  # v is every row (of positive weight): the exact median
            break
        beta = alpha / np.maximum(SMOOTHING, distances)  # (K,)
        v = _combine(points, beta, low, high)
        distances = _distances(points, v)
        previous, objective = objective, float(np.sum(alpha * distances))
        if abs(previous - objective) < RELATIVE_TOLERANCE * objective:
            break
    return v


@rule("geometric-median")
def geometric_median(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64: the weighted geometric median of the rows (smoothed Weiszfeld)."""
    return weiszfeld(rows, weights, context.weiszfeld_iters)
