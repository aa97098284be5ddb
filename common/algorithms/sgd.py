"""Minibatch SGD, the float baseline: clients send their gradients; the server
averages them weighted by the examples behind each, B_m / sum(B) (the gradient of
the union of the minibatches), and broadcasts the mean; x <- x - lr * mean.

The payloads are dense: float32 by default, float16 or bfloat16 to halve them. The
server averages what it received and every replica applies the mean as it travelled
down, so replicas stay bit-identical under any encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.aggregators import Aggregator
from common.algorithms.base import Algorithm, Trainer, register
from common.config import AggregatorConfig, RunConfig

DENSE = ("float32", "float16", "bfloat16")


class WeightedMean(Aggregator):
    """sum_m w_m g_m / sum_m w_m, accumulated in float64 in row order. Stateless."""

    name = "mean"
    codec = "float32"

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        rows, _ = self.check_inputs(votes, client_ids, round_index)
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(rows),) or not (w > 0).all():
            raise ValueError(f"weights must be {len(rows)} positive numbers, got {weights!r}")
        w = w / w.sum()
        mean = np.zeros(self.num_coords, dtype=np.float64)
        for weight, row in zip(w, rows, strict=True):
            mean += weight * row
        return mean.astype(np.float32)


@register
class SGD(Algorithm):
    name = "sgd"
    label = "SGD, float32 (sgd)"
    summary = "minibatch SGD: float gradients averaged by examples (the uncompressed baseline)"
    update_encodings = DENSE
    decision_encodings = DENSE
    baseline = True

    def client_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        return np.asarray(trainer.gradient(flat, round_index), dtype=np.float32)

    def aggregator(self, num_coords: int, config: AggregatorConfig) -> Aggregator:
        return WeightedMean(num_coords, config)
