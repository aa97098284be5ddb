"""The server's step on FedAvg's aggregate Delta (the combined client deltas), after
Reddi et al., "Adaptive Federated Optimization" (ICLR 2021), Algorithm 2:

    sgd       U = eta * Delta                                  (FedAvg; eta = 1: plain)
    momentum  v <- beta v + Delta;  U = eta * v                (FedAvgM)
    adam      m <- b1 m + (1 - b1) Delta
              v <- b2 v + (1 - b2) Delta^2;  U = eta * m / (sqrt(v) + tau)   (FedAdam)

and every replica sets x <- x + U. State (m, v) is float64, kept by the server only
(clients receive U) and checkpointed; FedAdam has no bias correction, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from common.config import AggregatorConfig


class ServerOptimizer:
    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        self.kind = config.server_optimizer
        self.config = config
        self.num_coords = num_coords
        self.state: dict[str, np.ndarray] = {}
        if self.kind in ("momentum", "adam"):
            self.state["m"] = np.zeros(num_coords, dtype=np.float64)
        if self.kind == "adam":
            self.state["v"] = np.zeros(num_coords, dtype=np.float64)

    def step(self, delta: np.ndarray) -> np.ndarray:
        """(N,) float32 U for the aggregate `delta` (N,) float64; updates the state."""
        c, eta = self.config, self.config.server_lr
        if self.kind == "sgd":
            update = eta * delta
        elif self.kind == "momentum":
            m = self.state["m"]
            m *= c.server_momentum
            m += delta
            update = eta * m
        else:
            m, v = self.state["m"], self.state["v"]
            m *= c.adam_beta1
            m += (1 - c.adam_beta1) * delta
            v *= c.adam_beta2
            v += (1 - c.adam_beta2) * delta * delta
            update = eta * m / (np.sqrt(v) + c.adam_tau)
        return np.asarray(update, dtype=np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"server_{k}": v.copy() for k, v in self.state.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        expected = {f"server_{k}" for k in self.state}
        if set(state) != expected:
            raise ValueError(
                f"--server-optimizer {self.kind} keeps {sorted(expected) or 'nothing'}, "
                f"the checkpoint has {sorted(state)}"
            )
        for key in self.state:
            value = np.asarray(state[f"server_{key}"], dtype=np.float64)
            if value.shape != (self.num_coords,) or not np.isfinite(value).all():
                raise ValueError(f"server_{key} must be {self.num_coords} finite numbers")
            self.state[key] = value.copy()
