"""Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer 2017, "Machine learning
with adversaries: Byzantine tolerant gradient descent").

Each row is scored by the sum of squared Euclidean distances to its M - f - 2 nearest
other rows; Krum returns the row of least score, Multi-Krum the unweighted mean of the
m = min(--multi-krum, M) best-scored rows. f is --byzantine, -1 meaning the most Krum
tolerates, (M - 3) // 2. The paper needs M >= 2f + 3; a round with dropped-out clients
can have fewer rows than that, and it must still close, so f is then clamped to
max(0, (M - 3) // 2) instead of failing the round. With M <= 3 the neighbour count is
kept in [1, M - 1] (M = 2: each row's one other row, a tie won by row 0; M = 1: the row).

Ties, in score or in a chosen set, go to the lower row index (stable sort), so the
choice is deterministic. The distances are exact float64 sums over each pair of rows,
computed once per pair (a symmetric matrix) with no Gram-matrix cancellation and no
BLAS; O(M^2 N) work with O(N) extra memory, fine for M of a few hundred. The mean of
the chosen rows is summed in row-index order and clipped to their per-coordinate range
(where it lies exactly), so equal rows give that row exactly.
"""

from __future__ import annotations

import numpy as np

from common.robust import RuleContext, rule


def assumed_byzantine(m: int, byzantine: int) -> int:
    """The f Krum scores with for M = m rows: -1 means (m - 3) // 2, and any f the
    round cannot honour (m < 2f + 3) is clamped to max(0, (m - 3) // 2)."""
    if byzantine < -1:
        raise ValueError(f"--byzantine must be >= -1, got {byzantine}")
    most = max(0, (m - 3) // 2)
    return most if byzantine == -1 or m < 2 * byzantine + 3 else byzantine


def squared_distances(rows: np.ndarray) -> np.ndarray:
    """(M, M) float64: ||rows[i] - rows[j]||^2, zero diagonal, exactly symmetric."""
    m = rows.shape[0]
    out = np.zeros((m, m), dtype=np.float64)
    for i in range(m):
        for j in range(i + 1, m):
            diff = np.subtract(rows[i], rows[j], dtype=np.float64)  # (N,)
            out[i, j] = out[j, i] = np.sum(diff * diff)
    return out


def krum_scores(rows: np.ndarray, byzantine: int) -> np.ndarray:
    """(M,) float64: each row's sum of squared distances to its nearest other rows."""
    m = rows.shape[0]
    f = assumed_byzantine(m, byzantine)
    neighbours = min(m - 1, max(1, m - f - 2))
    d = squared_distances(rows)  # (M, M)
    np.fill_diagonal(d, np.inf)  # a row is not its own neighbour
    return np.sort(d, axis=1)[:, :neighbours].sum(axis=1)


@rule("krum")
def krum(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64: the mean of the multi_krum best-scored rows (Krum: the best row);
    weights are unused, as in the paper."""
    if context.multi_krum < 1:
        raise ValueError(f"--multi-krum must be >= 1, got {context.multi_krum}")
    m = rows.shape[0]
    if m == 1:
        return rows[0].astype(np.float64)
    scores = krum_scores(rows, context.byzantine)  # (M,)
    best = np.argsort(scores, kind="stable")[: min(context.multi_krum, m)]
    chosen = rows[np.sort(best)]  # (m, N) float32, in row-index order
    if chosen.shape[0] == 1:
        return chosen[0].astype(np.float64)
    total = np.zeros(rows.shape[1], dtype=np.float64)  # (N,)
    for row in chosen:
        total += row
    mean = total / chosen.shape[0]
    return np.clip(mean, chosen.min(axis=0), chosen.max(axis=0), out=mean)
