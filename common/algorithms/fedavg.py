"""FedAvg (McMahan et al. 2017) with the server optimizers of Reddi et al. (2021).

A selected client starts from the global x^t, runs --local-epochs epochs (or
--local-steps steps) of SGD on its own data at the round's --lr, with
--client-momentum and --weight-decay, and sends its delta x_m - x^t. The server
combines the deltas by --rule (the mean weighted by the clients' example counts
n_m / sum n: FedAvg; or a robust rule), takes its optimizer's step U on the result
(common/aggregators/server_optimizer.py: FedAvg, FedAvgM, FedAdam), and broadcasts U;
every replica sets x <- x + U in float32, so replicas stay bit-identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from common.aggregators import Aggregator
from common.aggregators.float_rows import FloatRows
from common.aggregators.server_optimizer import ServerOptimizer
from common.algorithms.base import Algorithm, Trainer, register
from common.algorithms.sgd import DENSE
from common.codecs import Layout
from common.config import AggregatorConfig, RunConfig


class FedAvgAggregator(FloatRows):
    """The rule's combination of the deltas, then the server optimizer's step."""

    name = "fedavg"

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        super().__init__(num_coords, config)
        self.optimizer = ServerOptimizer(num_coords, config)

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.optimizer.step(self.combine(votes, client_ids, round_index, weights))

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.optimizer.load_state_dict(state)


@register
class FedAvg(Algorithm):
    name = "fedavg"
    label = "FedAvg (fedavg)"
    colour = "tab:purple"
    summary = (
        "local SGD epochs on each client's data; deltas combined by --rule (mean by "
        "examples), the server's step (sgd, momentum, adam) broadcast as floats"
    )
    update_encodings = DENSE
    decision_encodings = DENSE
    float_rows = True
    local_training = True

    def local_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        return trainer.local_delta(flat, round_index)

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return FedAvgAggregator(num_coords, config)

    def apply(self, flat: np.ndarray, values: np.ndarray, learning_rate: float) -> np.ndarray:
        """x + U (the server's step already holds the server lr; --lr is the clients')."""
        return np.asarray(flat, dtype=np.float32) + np.asarray(values, dtype=np.float32)

    def row_weight(self, batch_size: int, num_examples: int) -> float:
        return float(num_examples)
