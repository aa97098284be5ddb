"""A model in one file: multinomial logistic regression ("logreg").

One linear layer from the flattened input to the class logits, trained with the
softmax cross-entropy every signfed trainer uses. It fits any dataset: `input_shape`
is one example's shape, (64,) for digits, (1, 28, 28) for MNIST.

    signfed simulate --plugin docs/examples/logreg.py --model logreg --dataset digits

docs/extending.md explains the rules a model follows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from common.registry import register_model


class LogisticRegression(nn.Module):
    def __init__(self, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))  # (B, *input_shape) -> (B, num_classes) logits


@register_model("logreg", summary="multinomial logistic regression: one linear layer")
def build(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    # Only construct: signfed builds this on torch's meta device and then draws every
    # parameter from the run's seed, so all replicas start from the same bits.
    return LogisticRegression(math.prod(input_shape), num_classes)
