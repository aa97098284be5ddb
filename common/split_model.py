"""A model cut into parts for split learning: stages, cut layers, who holds which.

Every model signfed trains is a chain of named stages (`stages`); a cut after stage k
gives the client the head (stages up to k) and the server the rest. U-shaped learning
keeps the last stage on the client too (its output and the labels never leave it), so
the server holds the middle. The parts reuse the full model's own modules, so a
stage-by-stage forward is the model's forward, op for op, and each part's parameters
are one contiguous range of the full flat vector (`common.params` order): a split run's
model is the same (N,) float32 vector the other algorithms train, and it is evaluated,
checkpointed and compared as one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from common.config_error import ConfigError
from common.models import MLP, Net, ResNet56, build_model

VANILLA, USHAPED, SPLITFED, SPLITFED2 = "vanilla", "ushaped", "splitfed", "splitfed2"
VARIANTS = (VANILLA, USHAPED, SPLITFED, SPLITFED2)
# The cut each model gets without --cut-layer: Net after its convolutions (1,024 floats
# per example go up), ResNet-56 after its second stage (a stage boundary).
DEFAULT_CUTS = {"net": "conv2", "mlp": "fc1", "resnet56": "layer2"}


class _GlobalPool(nn.Module):
    """ResNet-56's global average pool as a stage: (B, C, H, W) -> (B, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model as named stages whose composition is its forward, op for op."""
    if isinstance(model, Net):
        return [
            ("conv1", nn.Sequential(model.conv1, nn.ReLU(), model.pool)),  # (B, 32, 12, 12)
            ("conv2", nn.Sequential(model.conv2, nn.ReLU(), model.pool, nn.Flatten(1))),
            ("fc1", nn.Sequential(model.fc1, nn.ReLU())),  # (B, 512)
            ("fc2", model.fc2),
        ]
    if isinstance(model, MLP):
        return [("fc1", nn.Sequential(nn.Flatten(1), model.fc1, nn.ReLU())), ("fc2", model.fc2)]
    if isinstance(model, ResNet56):
        return [
            ("stem", nn.Sequential(model.conv1, model.bn1, nn.ReLU())),  # (B, 16, 32, 32)
            ("layer1", model.layer1),  # (B, 16, 32, 32)
            ("layer2", model.layer2),  # (B, 32, 16, 16)
            ("layer3", model.layer3),  # (B, 64, 8, 8)
            ("fc", nn.Sequential(_GlobalPool(), model.fc)),
        ]
    raise TypeError(f"no stages defined for {type(model).__name__}")


def cut_layers(model_name: str, variant: str) -> tuple[str, ...]:
    """The stages a cut may follow: any but the last (the server needs a stage), and for
    U-shaped any that leaves one stage between the head and the client's top."""
    names = [name for name, _ in stages(_skeleton(model_name))]
    return tuple(names[: -2 if variant == USHAPED else -1])


def _skeleton(model_name: str) -> nn.Module:
    # shapes only: the stages are what matter, not the weights (meta tensors, no memory)
    shape = (3, 32, 32) if model_name == "resnet56" else (1, 28, 28)
    with torch.device("meta"):
        if model_name == "net":
            return Net(*shape[:2])
        if model_name == "mlp":
            return MLP(int(np.prod(shape)), 10)
        if model_name == "resnet56":
            return ResNet56(shape[0], 10)
    raise ConfigError(f"no split stages for model {model_name!r}")


@dataclass(frozen=True)
class Cut:
    """Where a model is cut, as ranges of its flat vector.

    head = [0, head_end) on the client; server = [head_end, top_start) on the server;
    top = [top_start, N) on the client (empty unless U-shaped).
    """

    model: str
    layer: str
    variant: str
    stage: int  # the head is stages[: stage + 1]
    top_stage: int  # the client's top is stages[top_stage:] (len(stages) when none)
    head_end: int
    top_start: int
    num_params: int

    def client_flat(self, flat: np.ndarray) -> np.ndarray:
        """(head + top,) float32: the client's parameters out of the full vector."""
        return np.concatenate([flat[: self.head_end], flat[self.top_start :]])

    def server_flat(self, flat: np.ndarray) -> np.ndarray:
        return np.array(flat[self.head_end : self.top_start], dtype=np.float32)

    @property
    def client_size(self) -> int:
        return self.head_end + self.num_params - self.top_start

    def join(self, client: np.ndarray, server: np.ndarray) -> np.ndarray:
        """The full (N,) vector from the client's and the server's parameters."""
        head, top = client[: self.head_end], client[self.head_end :]
        return np.concatenate([head, server, top]).astype(np.float32, copy=False)


def make_cut(model: nn.Module, model_name: str, layer: str, variant: str) -> Cut:
    """The Cut of `model` after stage `layer`; ConfigError naming the choices."""
    if variant not in VARIANTS:
        raise ConfigError(f"--split-variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    named = stages(model)
    allowed = cut_layers(model_name, variant)
    layer = layer or DEFAULT_CUTS[model_name]
    if layer not in allowed:
        raise ConfigError(
            f"--cut-layer {layer!r} does not cut model {model_name} for --split-variant "
            f"{variant}; choose one of {', '.join(allowed)}"
        )
    _check_order(model, named)
    sizes = [sum(p.numel() for p in module.parameters()) for _, module in named]
    stage = [name for name, _ in named].index(layer)
    top_stage = len(named) - 1 if variant == USHAPED else len(named)
    total = sum(sizes)
    return Cut(
        model=model_name,
        layer=layer,
        variant=variant,
        stage=stage,
        top_stage=top_stage,
        head_end=sum(sizes[: stage + 1]),
        top_start=sum(sizes[:top_stage]),
        num_params=total,
    )


def _check_order(model: nn.Module, named: list[tuple[str, nn.Module]]) -> None:
    # The ranges above assume the stages hold the model's parameters in its own order;
    # a model whose stages reorder or skip one would silently mix up the parts.
    staged = [id(p) for _, module in named for p in module.parameters()]
    if staged != [id(p) for p in model.parameters()]:
        raise TypeError(f"{type(model).__name__}'s stages do not hold its parameters in order")


@dataclass
class Parts:
    """The modules of one side, from one freshly built model (the other side's stages
    of that model are never run)."""

    cut: Cut
    head: nn.Sequential  # the client's stages up to the cut
    server: nn.Sequential  # the server's middle
    top: nn.Sequential  # the client's last stage (U-shaped), else empty

    def client_modules(self) -> nn.ModuleList:
        # head then top: their parameters in flat order, as Cut.client_flat takes them
        return nn.ModuleList([self.head, self.top])


def build_parts(
    model_name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    seed: int,
    layer: str,
    variant: str,
) -> Parts:
    """A model built from the seed (common.models), cut after `layer`."""
    model = build_model(model_name, input_shape, num_classes, seed)
    cut = make_cut(model, model_name, layer, variant)
    named = [module for _, module in stages(model)]
    return Parts(
        cut=cut,
        head=nn.Sequential(*named[: cut.stage + 1]),
        server=nn.Sequential(*named[cut.stage + 1 : cut.top_stage]),
        top=nn.Sequential(*named[cut.top_stage :]),
    )


def cut_shapes(parts: Parts, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Per-example shapes of the activations at the cut and of the server's output."""
    with torch.no_grad():
        activations = parts.head(torch.zeros((1, *input_shape)))
        output = parts.server(activations)
    return tuple(activations.shape[1:]), tuple(output.shape[1:])
