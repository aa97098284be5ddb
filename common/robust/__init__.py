"""Robust aggregation rules: a round's float rows in, one float64 row out.

Each rule is one pure function in its own module of this package, registered by name
with @rule (the package imports every module, as common/algorithms does); the float
aggregator (common/aggregators/robust.py) applies the one --rule names. A rule sees

    rows     (M, N) float32, one finite row per client, in client id order
    weights  (M,) float64 > 0, the examples behind each row
    context  the rule's settings and its seeded randomness (RuleContext)

and returns (N,) float64. Rules that have no use for weights ignore them (the
coordinate median treats every client alike, as the papers do).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RuleContext:
    trim_beta: float = 0.2  # trimmed mean: drop floor(beta * M) rows per side
    groups: int = 5  # median of means: the number of random groups
    byzantine: int = -1  # Krum's f; -1: the most it tolerates, (M - 3) // 2
    multi_krum: int = 1  # Krum: average the m best-scored rows (1: Krum itself)
    weiszfeld_iters: int = 100  # geometric median: at most this many Weiszfeld steps
    # seeded by (run seed, round): the random groups of median of means
    rng: np.random.Generator | None = None


Rule = Callable[[np.ndarray, np.ndarray, RuleContext], np.ndarray]
_RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Decorator: make a function available as --rule `name`."""

    def register(function: Rule) -> Rule:
        if name in _RULES:
            raise ValueError(f"rule name {name!r} is already registered")
        _RULES[name] = function
        return function

    return register


def available() -> tuple[str, ...]:
    """Registered rule names, "mean" first, the rest sorted."""
    return tuple(sorted(_RULES, key=lambda n: (n != "mean", n)))


def get_rule(name: str) -> Rule:
    found = _RULES.get(name)
    if found is None:
        raise ValueError(f"unknown rule {name!r}; available: {', '.join(available())}")
    return found


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Rule", "RuleContext", "available", "get_rule", "rule"]
