"""Median of means (Chen, Su, Xu 2017, "Distributed statistical machine learning in
adversarial settings: Byzantine gradient descent"): split the M rows at random into
g = min(--groups, M) groups, average each group, and take the geometric median of the
g group means.

A group mean is clean unless an attacker is in it, so with fewer attackers than half
the groups most means are honest and the geometric median (which the paper uses, not a
coordinate median) stays near them. The groups come from a permutation drawn from the
round's seeded generator (context.rng), so every backend and a rerun group alike; the
permutation is cut by np.array_split, so when g does not divide M the group sizes
differ by at most one. A group's mean weights its rows by their examples (the weighted
mean of mean.py, in row-id order within the group so only membership matters) and the
geometric median weights each group by its total examples, computed by the one
Weiszfeld routine of geometric_median.py. Each group mean is clipped to its rows'
per-coordinate range, where it lies exactly, so equal rows give that row exactly.
"""

from __future__ import annotations

import numpy as np

from common.robust import RuleContext, rule
from common.robust.geometric_median import weiszfeld
from common.robust.mean import weighted_mean


@rule("median-of-means")
def median_of_means(rows: np.ndarray, weights: np.ndarray, context: RuleContext) -> np.ndarray:
    """(N,) float64: the weighted geometric median of g random groups' weighted means."""
    if context.rng is None:
        raise ValueError("median-of-means needs the round's seeded generator (context.rng)")
    if context.groups < 1:
        raise ValueError(f"--groups must be >= 1, got {context.groups}")
    m = rows.shape[0]
    g = min(context.groups, m)
    w = np.asarray(weights, dtype=np.float64)  # (M,)
    groups = np.array_split(context.rng.permutation(m), g)  # g index arrays, sizes differ <= 1
    means = np.empty((g, rows.shape[1]), dtype=np.float64)  # (g, N)
    totals = np.empty(g, dtype=np.float64)  # (g,) each group's examples
    for i, drawn in enumerate(groups):
        members = np.sort(drawn)  # row-id order: the mean depends only on who is in it
        group = rows[members]  # (size, N) float32
        mean = weighted_mean(group, w[members], context)
        means[i] = np.clip(mean, group.min(axis=0), group.max(axis=0), out=mean)
        totals[i] = w[members].sum()
    return weiszfeld(means, totals, context.weiszfeld_iters)
