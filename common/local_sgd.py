"""The SGD every local trainer takes: FedAvg's clients, and both halves of split
learning, with the run's settings (so "the same optimiser settings" is one function)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from common.config import RunConfig


def local_sgd(
    parameters: Iterable[torch.nn.Parameter], run: RunConfig, round_index: int
) -> torch.optim.SGD:
    """A fresh SGD over `parameters` at round t's lr, with --client-momentum and
    --weight-decay. The lr is rounded to float32 as RunSettings carries it, so every
    replica (and the server's part) steps with the same value."""
    return torch.optim.SGD(
        parameters,
        lr=float(np.float32(run.learning_rate_at(round_index))),
        momentum=run.client_momentum,
        weight_decay=run.weight_decay,
    )
