"""The weighted mean, FedAvg's and SGD's rule: sum_m w_m r_m / sum_m w_m."""

from __future__ import annotations

import numpy as np

from common.robust import RuleContext, rule


@rule("mean")
def weighted_mean(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64, accumulated row by row in row order, so the sum does not depend on
    BLAS (the same bits on every machine)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = np.zeros(rows.shape[1], dtype=np.float64)
    for weight, row in zip(w, rows, strict=True):
        mean += weight * row
    return mean
