"""Test-set accuracy and loss of a model, without touching its gradients or its mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from common.models import as_model_input


def evaluate(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) of `model` on (x, y).

    Runs in batches so the full MNIST test set fits in little memory, in eval mode and
    without autograd; the model's train/eval mode is restored afterwards, because the
    server evaluates the same master copy it keeps updating.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    correct = 0
    total_loss = 0.0
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                logits = model(as_model_input(x[start : start + batch_size]))
                labels = y[start : start + batch_size]
                # Per-batch sums accumulate in a Python float (float64) across batches.
                total_loss += F.cross_entropy(logits, labels, reduction="sum").double().item()
                correct += int((logits.argmax(dim=1) == labels).sum().item())
    finally:
        model.train(was_training)
    return correct / len(x), total_loss / len(x)
