"""Plain float64 references of common/robust's rules, for tests only.

Written from the papers' formulas, not from common/robust: Python lists, a loop over
coordinates and rows, sorted(), statistics.median and math.fsum (a correctly rounded
sum), for small N. Nothing here calls or shares the code under test; median of means
draws its permutation from the same seeded generator, the one thing it must share.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

SMOOTHING = 1e-6  # RFA's nu
RELATIVE_TOLERANCE = 1e-7  # RFA's stop: |objective change| < tol * objective


def as_lists(rows: np.ndarray) -> list[list[float]]:
    return [[float(x) for x in row] for row in rows]


def columns(rows: list[list[float]]) -> list[list[float]]:
    return [[row[n] for row in rows] for n in range(len(rows[0]))]


def median(rows: np.ndarray) -> np.ndarray:
    return np.array([statistics.median(col) for col in columns(as_lists(rows))])


def trimmed_mean(rows: np.ndarray, beta: float) -> np.ndarray:
    m = len(rows)
    k = math.floor(beta * m)
    out = []
    for col in columns(as_lists(rows)):
        kept = sorted(col)[k : m - k]
        out.append(math.fsum(kept) / len(kept))
    return np.array(out)


def weighted_mean(points: list[list[float]], weights: list[float]) -> list[float]:
    total = math.fsum(weights)
    return [
        math.fsum(w * x for w, x in zip(weights, col, strict=True)) / total
        for col in columns(points)
    ]


def distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def geometric_median_lists(
    points: list[list[float]], weights: list[float], max_iters: int
) -> list[float]:
    """RFA's smoothed Weiszfeld, written out."""
    total = math.fsum(weights)
    alpha = [w / total for w in weights]
    v = weighted_mean(points, alpha)

    def objective(v: list[float]) -> float:
        return math.fsum(a * distance(p, v) for a, p in zip(alpha, points, strict=True))

    value = objective(v)
    for _ in range(max_iters):
        if value == 0.0:
            break
        beta = [a / max(SMOOTHING, distance(p, v)) for a, p in zip(alpha, points, strict=True)]
        v = weighted_mean(points, beta)
        previous, value = value, objective(v)
        if abs(previous - value) < RELATIVE_TOLERANCE * value:
            break
    return v


def geometric_median(rows: np.ndarray, weights: np.ndarray, max_iters: int) -> np.ndarray:
    return np.array(geometric_median_lists(as_lists(rows), [float(w) for w in weights], max_iters))


def split_groups(order: list[int], groups: int) -> list[list[int]]:
    """Cut `order` into `groups` consecutive runs, the first M % g one longer."""
    size, extra = divmod(len(order), groups)
    out, start = [], 0
    for i in range(groups):
        end = start + size + (1 if i < extra else 0)
        out.append(order[start:end])
        start = end
    return out


def median_of_means(
    rows: np.ndarray, weights: np.ndarray, groups: int, seed: int, max_iters: int
) -> np.ndarray:
    """The permutation comes from default_rng(seed).permutation(M), as the rule's does."""
    points, w = as_lists(rows), [float(x) for x in weights]
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(points))]
    means, totals = [], []
    for members in split_groups(order, min(groups, len(points))):
        means.append(weighted_mean([points[i] for i in members], [w[i] for i in members]))
        totals.append(math.fsum(w[i] for i in members))
    return np.array(geometric_median_lists(means, totals, max_iters))


def krum(rows: np.ndarray, byzantine: int, multi: int) -> np.ndarray:
    points = as_lists(rows)
    m = len(points)
    f = (m - 3) // 2 if byzantine == -1 else byzantine
    if m < 2 * f + 3:
        f = max(0, (m - 3) // 2)
    near = min(m - 1, max(1, m - f - 2))
    scores = []
    for i in range(m):
        others = sorted(
            math.fsum((x - y) ** 2 for x, y in zip(points[i], points[j], strict=True))
            for j in range(m)
            if j != i
        )
        scores.append(math.fsum(others[:near]))
    ranked = sorted(range(m), key=lambda i: (scores[i], i))
    chosen = [points[i] for i in ranked[: min(multi, m)]]
    return np.array([math.fsum(col) / len(col) for col in columns(chosen)])
