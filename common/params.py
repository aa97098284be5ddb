"""A torch model's parameters as one flat float32 vector, and its digest.

Every replica applies the same update rule (common/step.py) in exact float32
arithmetic, so replicas stay bit-identical and a SHA-256 of the vector proves it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from common.codecs import Layout
from common.ternary import layout_of


def model_layout(model: torch.nn.Module) -> Layout:
    """The parameters as (rows, cols) blocks in flat order (Codec.bound's hint)."""
    return layout_of([tuple(p.shape) for p in model.parameters()])


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def get_flat(model: torch.nn.Module) -> np.ndarray:
    """(N,) float32 copy of the parameters, in model.parameters() order."""
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def set_flat(model: torch.nn.Module, flat: np.ndarray) -> None:
    """Overwrite the parameters from a (N,) float32 vector."""
    flat = np.asarray(flat, dtype=np.float32)
    if flat.shape != (num_params(model),):
        raise ValueError(f"model has {num_params(model)} parameters, vector has {flat.shape}")
    source = torch.from_numpy(flat)
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(source[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def get_flat_grad(model: torch.nn.Module) -> np.ndarray:
    """(N,) float32 gradient; a parameter without a gradient contributes exact zeros."""
    parts = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
        for p in model.parameters()
    ]
    return torch.cat(parts).detach().numpy().copy()


def digest(flat: np.ndarray) -> bytes:
    """SHA-256 of the float32 little-endian bytes of the vector."""
    return hashlib.sha256(np.ascontiguousarray(flat, dtype="<f4").tobytes()).digest()
