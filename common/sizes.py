"""How many examples each client holds: equal shares, or a seeded skewed draw.

Real federations are not equal: a few clients hold most of the data and many hold a
little. Two common models of that skew:

- "lognormal": weights exp(N(0, sigma^2)), so log(size) has standard deviation about
  sigma (sigma = 1: the largest of 100 clients holds ~10x the median).
- "powerlaw": Pareto weights with tail exponent alpha, P(W > w) = w^-alpha for w >= 1;
  smaller alpha is a heavier tail (alpha <= 1: one client may hold a large share).

Weights become integer sizes that sum exactly to the total with at least one example
each: one example per client first, the rest in proportion to the weights.
"""

from __future__ import annotations

import numpy as np

SIZE_DISTRIBUTIONS = ("equal", "lognormal", "powerlaw")


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """(K,) int64 counts >= 0 summing to `total`, each within 1 of total * w / sum(w).

    Cuts at floor(cumulative share * total): the cumulative sum is non-decreasing and
    ends at sum(w), so the counts are never negative and their sum is exact."""
    weights = np.asarray(weights, dtype=np.float64)
    if total < 0 or weights.ndim != 1 or weights.size == 0 or not (weights > 0).all():
        raise ValueError("apportion needs total >= 0 and a non-empty 1-D array of weights > 0")
    cumulative = np.cumsum(weights)
    cuts = np.floor(cumulative / cumulative[-1] * total).astype(np.int64)
    cuts[-1] = total
    return np.diff(cuts, prepend=0)


def size_weights(
    num_clients: int, distribution: str, rng: np.random.Generator, sigma: float, alpha: float
) -> np.ndarray:
    """(num_clients,) float64 weights > 0 drawn from the named distribution."""
    if distribution == "equal":
        return np.ones(num_clients)
    if distribution == "lognormal":
        if not sigma > 0:
            raise ValueError(f"size_sigma must be > 0, got {sigma}")
        return rng.lognormal(0.0, sigma, num_clients)
    if distribution == "powerlaw":
        if not alpha > 0:
            raise ValueError(f"size_alpha must be > 0, got {alpha}")
        return rng.pareto(alpha, num_clients) + 1.0  # Lomax + 1: Pareto with minimum 1
    raise ValueError(
        f"unknown size distribution {distribution!r}; choose one of {SIZE_DISTRIBUTIONS}"
    )


def equal_sizes(total: int, num_clients: int) -> np.ndarray:
    """(num_clients,) int64: np.array_split's sizes (the first total % n one larger)."""
    sizes = np.full(num_clients, total // num_clients, dtype=np.int64)
    sizes[: total % num_clients] += 1
    return sizes


def client_sizes(
    total: int,
    num_clients: int,
    distribution: str,
    rng: np.random.Generator,
    sigma: float = 1.0,
    alpha: float = 1.5,
) -> np.ndarray:
    """(num_clients,) int64 sizes >= 1 summing to `total`; "equal" is np.array_split's
    split (what the disjoint schemes always used) and draws nothing from `rng`."""
    if num_clients < 1 or total < num_clients:
        raise ValueError(f"{total} examples cannot give each of {num_clients} clients one")
    if distribution == "equal":
        return equal_sizes(total, num_clients)
    weights = size_weights(num_clients, distribution, rng, sigma, alpha)
    return 1 + apportion(total - num_clients, weights)
