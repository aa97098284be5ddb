"""The coordinate-wise trimmed mean (Yin, Chen, Ramchandran, Bartlett 2018, "Byzantine-
robust distributed learning: towards optimal statistical rates"): per coordinate, sort
the M values, drop the k = floor(beta * M) smallest and the k largest, and average the
M - 2k left.

Unweighted, as in the paper: weights would let a client that claims many examples
outweigh the honest rows the trimming keeps. beta = 0 is the plain unweighted mean. The
kept values are summed in float64 one sorted row at a time, so the bits do not depend
on BLAS; the mean is then clipped to the kept values' range, where it lies exactly, so
rounding cannot leave it (M equal values give that value exactly).
"""

from __future__ import annotations

import math

import numpy as np

from common.robust import RuleContext, rule


@rule("trimmed-mean")
def trimmed_mean(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64: per coordinate the mean of the values left after dropping the k
    smallest and k largest, k = floor(trim_beta * M); weights are unused."""
    m = rows.shape[0]
    k = math.floor(context.trim_beta * m)
    if not 0.0 <= context.trim_beta < 0.5 or 2 * k >= m:
        raise ValueError(
            f"--trim-beta {context.trim_beta} drops {k} of {m} rows at each end: "
            "it must be in [0, 0.5) and leave at least one row"
        )
    kept = np.sort(rows, axis=0)[k : m - k]  # (M - 2k, N) float32, ascending per column
    total = np.zeros(rows.shape[1], dtype=np.float64)  # (N,)
    for row in kept:
        total += row
    mean = total / kept.shape[0]
    return np.clip(mean, kept[0], kept[-1], out=mean)
