"""The aggregator of float rows (sgd's gradients, FedAvg's deltas): the run's --rule.

The rule (common/robust: the weighted mean, or a Byzantine-robust one) combines the
round's rows in float64; the result travels as float32. Median of means draws its
random groups from a generator seeded by (run seed, round), so every backend, and a
rerun, groups alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.aggregators.base import Aggregator
from common.config import AggregatorConfig
from common.robust import RuleContext, get_rule

GROUPS_KEY = 0x6E0  # purpose key: median of means' random groups in round t


class FloatRows(Aggregator):
    """rule(rows, weights) in float64, returned as float32. Stateless."""

    name = "float"
    codec = "float32"

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        super().__init__(num_coords, config)
        self.rule = get_rule(config.rule)

    def combine(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """(N,) float64: the rule applied to the round's checked rows."""
        rows, _ = self.check_inputs(votes, client_ids, round_index)
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(rows),) or not (w > 0).all():
            raise ValueError(f"weights must be {len(rows)} positive numbers, got {weights!r}")
        c = self.config
        context = RuleContext(
            trim_beta=c.trim_beta,
            groups=c.groups,
            byzantine=c.byzantine,
            multi_krum=c.multi_krum,
            weiszfeld_iters=c.weiszfeld_iters,
            rng=np.random.default_rng([c.seed, GROUPS_KEY, round_index]),
        )
        return self.rule(rows, w, context)

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.combine(votes, client_ids, round_index, weights).astype(np.float32)
