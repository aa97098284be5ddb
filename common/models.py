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
import torch.nn.functional as F
from torch import nn

from common import registry


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


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # No running statistics (DESIGN.md): batch statistics in train and eval alike, so a
    # replica's whole state is its parameter vector (common.params), which every replica
    # updates identically; running means would be buffers that drift apart per client.
    return nn.BatchNorm2d(channels, affine=True, track_running_stats=False)


class _PadShortcut(nn.Module):
    """Option-A shortcut of He et al. 2016: subsample by 2, zero-pad the new channels.

    Parameter-free (akamaster/pytorch_resnet_cifar10's LambdaLayer), which is what makes
    ResNet-56 853,018 parameters; a module rather than a lambda so models pickle.
    """

    def __init__(self, in_planes: int, planes: int) -> None:
        super().__init__()
        extra = planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)  # 16 -> 32 pads 8 before and 8 after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, C + extra, H/2, W/2); F.pad's last pair is the channel axis
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, *self.pad))


class _BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _batch_norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = _batch_norm(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if stride != 2:
                raise ValueError(f"option-A shortcuts subsample by 2, got stride {stride}")
            self.shortcut = _PadShortcut(in_planes, planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet56(nn.Module):
    """The CIFAR ResNet of He et al. 2016 with n = 9: 853,018 parameters for 3x32x32, 10 classes.

    conv3x3(16) -> BN -> ReLU -> 3 stages of 9 basic blocks (16, 32, 64 channels; the
    2nd and 3rd stages start with stride 2) -> global average pool -> fc(64, classes).
    Convolutions have no bias (BN follows each); shortcuts are parameter-free (option A).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, blocks: int = 9) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = _batch_norm(16)
        layers: list[nn.Sequential] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            strides = [stride] + [1] * (blocks - 1)
            stage = []
            for block_stride in strides:
                stage.append(_BasicBlock(in_planes, planes, block_stride))
                in_planes = planes
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32) for 32x32 input
        x = self.layer3(self.layer2(self.layer1(x)))  # (B, 64, 8, 8)
        return self.fc(x.mean(dim=(2, 3)))  # global average pool -> (B, num_classes)


def _init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Conv/Linear initialisation, drawn from `generator`.

    Same distributions as `reset_parameters()` (Kaiming-uniform weights with a = sqrt(5),
    bias uniform in +-1/sqrt(fan_in)), so training behaves as with a stock model; the
    modules are visited in registration order, which fixes the draw order. BatchNorm
    starts at weight 1, bias 0 (PyTorch's default too) and draws nothing, so adding it
    left the draws of Net and MLP, hence their initial weights, unchanged.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                # Also zeroes running statistics if a model ever tracks them: `to_empty`
                # left them as uninitialised memory.
                module.reset_parameters()
                continue
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
        if not isinstance(module, nn.Conv2d | nn.Linear | nn.BatchNorm2d)
        and any(True for _ in module.parameters(recurse=False))
    ]
    if unset:  # a new layer type would otherwise keep uninitialised memory
        raise TypeError(f"no seeded initialiser for modules {unset}")


def as_model_input(x: torch.Tensor) -> torch.Tensor:
    """A batch in the layout the models run fastest on: channels-last for images.

    Same values, other strides: oneDNN's NHWC convolutions make Net's forward+backward
    about 30% faster on CPU than NCHW (measured on MNIST batches of 4 to 904). Every
    replica and the simulation go through here, so their gradients stay bit-identical.
    """
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def build_net(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ValueError(
            f"model 'net' needs square image input (C, H, H), got {input_shape}; "
            "use model 'mlp' for flat features"
        )
    return Net(input_shape[0], input_shape[1], num_classes)


def build_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(math.prod(input_shape), num_classes)


def build_resnet56(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"model 'resnet56' needs image input (C, H, W), got {input_shape}")
    return ResNet56(input_shape[0], num_classes)


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """A fresh model whose parameters depend only on (name, shapes, seed).

    `name` is a model of the registry (common/registry.py): "net" and "resnet56" take
    `input_shape` (one example's shape) as (C, H, W); "mlp" takes anything (it is
    flattened). Two calls with the same arguments give bit-identical parameters, and
    torch's global RNG state is the same before and after the call.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    spec = registry.get_model(name)
    # Built on the meta device: the constructors' own default initialisation then draws
    # nothing from the global RNG; `to_empty` gives real storage that we fill below.
    with torch.device("meta"):
        model = spec.build(tuple(input_shape), num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model {name!r}: its builder returned {type(model).__name__}")
    buffers = [n for n, _ in model.named_buffers()]
    if buffers:  # to_empty leaves them garbage, and replicas share parameters only
        raise TypeError(f"model {name!r} keeps buffers {buffers}; only parameters are seeded")
    model = model.to_empty(device="cpu")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    _init_parameters(model, generator)
    return model
