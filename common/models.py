"""The networks every replica trains, built bit-identically from a seed.

Every replica (server master, each client, the in-process simulation) must start from
the same float32 vector, so `build_model` derives the initial weights from the run seed
alone. It draws them from a private `torch.Generator`, never from torch's global RNG:
the caller's own random stream (dropout elsewhere, a test's seeding) stays untouched,
and a thread building a model cannot be perturbed by another thread's draws.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODEL_NAMES = ("net", "mlp")


class Net(nn.Module):
    """The paper's MNIST CNN: 582,026 parameters for 1x28x28 input, no dropout.

    conv5x5(32) -> ReLU -> pool2 -> conv5x5(64) -> ReLU -> pool2 -> fc(1024, 512) -> ReLU
    -> fc(512, 10). The convolutions are unpadded, so 28 -> 24 -> 12 -> 8 -> 4 and the
    flattened width is 64 * 4 * 4 = 1024.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2  # two unpadded 5x5 convs, two 2x2 pools
        if side < 1:
            raise ValueError(f"Net needs images of at least 12x12 pixels, got {image_size}")
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(64 * side * side, 512)
        self.fc2 = nn.Linear(512, num_classes)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (B, 32, 12, 12) for 28x28 input
        x = self.pool(torch.relu(self.conv2(x)))  # (B, 64, 4, 4)
        x = torch.relu(self.fc1(x.flatten(1)))  # (B, 512)
        return self.fc2(x)  # (B, num_classes) logits


class MLP(nn.Module):
    """input -> hidden -> ReLU -> classes: small enough for digits and synthetic data."""

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Flatten so image-shaped input (B, C, H, W) works as well as (B, D).
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def _init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Conv/Linear initialisation, drawn from `generator`.

    Same distributions as `reset_parameters()` (Kaiming-uniform weights with a = sqrt(5),
    bias uniform in +-1/sqrt(fan_in)), so training behaves as with a stock model; the
    modules are visited in registration order, which fixes the draw order.
    """
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    unset = [
        name
        for name, module in model.named_modules()
        if not isinstance(module, nn.Conv2d | nn.Linear)
        and any(True for _ in module.parameters(recurse=False))
    ]
    if unset:  # a new layer type would otherwise keep uninitialised memory
        raise TypeError(f"no seeded initialiser for modules {unset}")


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """A fresh model whose parameters depend only on (name, shapes, seed).

    `input_shape` is one example's shape: (C, H, W) for "net", anything for "mlp"
    (it is flattened). Two calls with the same arguments give bit-identical parameters,
    and torch's global RNG state is the same before and after the call.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    # Built on the meta device: the constructors' own default initialisation then draws
    # nothing from the global RNG; `to_empty` gives real storage that we fill below.
    with torch.device("meta"):
        if name == "net":
            if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
                raise ValueError(
                    f"model 'net' needs square image input (C, H, H), got {input_shape}; "
                    "use model 'mlp' for flat features"
                )
            model: nn.Module = Net(input_shape[0], input_shape[1], num_classes)
        elif name == "mlp":
            model = MLP(math.prod(input_shape), num_classes)
        else:
            raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    model = model.to_empty(device="cpu")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    _init_parameters(model, generator)
    return model
