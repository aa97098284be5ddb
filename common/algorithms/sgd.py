"""Minibatch SGD, the float baseline: clients send their gradients; the server
averages them weighted by the examples behind each, B_m / sum(B) (the gradient of
the union of the minibatches), and broadcasts the mean; x <- x - lr * mean. With a
robust --rule (median, Krum, median of means, ...) this is Byzantine gradient descent.

The payloads are dense: float32 by default, float16 or bfloat16 to halve them. The
server averages what it received and every replica applies the mean as it travelled
down, so replicas stay bit-identical under any encoding.
"""

from __future__ import annotations

import numpy as np

from common.aggregators import Aggregator
from common.aggregators.float_rows import FloatRows
from common.algorithms.base import Algorithm, Trainer, register
from common.codecs import Layout
from common.config import AggregatorConfig, RunConfig

DENSE = ("float32", "float16", "bfloat16")


@register
class SGD(Algorithm):
    name = "sgd"
    label = "SGD, float32 (sgd)"
    summary = "minibatch SGD: float gradients averaged by examples (the uncompressed baseline)"
    update_encodings = DENSE
    decision_encodings = DENSE
    baseline = True
    float_rows = True

    def local_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        return np.asarray(trainer.gradient(flat, round_index), dtype=np.float32)

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return FloatRows(num_coords, config)
