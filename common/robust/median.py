"""The coordinate-wise median (Yin, Chen, Ramchandran, Bartlett 2018, "Byzantine-robust
distributed learning: towards optimal statistical rates"): per coordinate, the middle
value of the M rows; for even M the mean of the two middle values (np.median's rule).

Unweighted, as in the paper: a weighted median would let one client that claims many
examples choose the result alone. The order statistics are taken in float32 (the rows'
own values, nothing rounded) and only the even-M midpoint is formed in float64, where
(a + b) / 2 of two float32 values is exact; this avoids a float64 copy of all M rows.
"""

from __future__ import annotations

import numpy as np

from common.robust import RuleContext, rule


@rule("median")
def coordinate_median(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64: per coordinate the median of rows[:, n]; weights are unused."""
    m = rows.shape[0]
    half = m // 2
    if m % 2:
        part = np.partition(rows, half, axis=0)  # (M, N) float32, row `half` in place
        return part[half].astype(np.float64)
    part = np.partition(rows, (half - 1, half), axis=0)  # (M, N), both middles in place
    return (part[half - 1].astype(np.float64) + part[half]) / 2.0
