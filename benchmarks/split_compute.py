"""What split learning leaves a client to compute, and what it costs the server:
`python -m benchmarks.split_compute [--batches 125] [--repeats 3] [--data-dir data]`.

MNIST `Net`, batch 32 (the comparison's, docs/results/split/), one torch thread. For
each cut (conv1, conv2, fc1; and U-shaped at conv2, whose client keeps fc2 too) it
times, side by side in one run, a client's
epoch of 4,000 examples (125 minibatches, as a client of 15 holds): the full model's
forward, backward and SGD step (FedAvg's client) against the client part's alone (the
head, and U-shaped the top, with the tensors at the cut given). Multiply-accumulates
per example are counted from the layers' shapes. Server memory: the float32 bytes of
the server parts' parameters and momentum, one part (SplitNN, SFLV2) against 15
(SplitFed's SFLV1), next to the measured growth of the process's peak RSS when 15
copies are built.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import copy  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from common.data import load_dataset  # noqa: E402
from common.models import as_model_input, build_model  # noqa: E402
from common.split_model import Parts, build_parts, cut_shapes  # noqa: E402

CUTS = [("vanilla", "conv1"), ("vanilla", "conv2"), ("vanilla", "fc1"), ("ushaped", "conv2")]


def macs(module: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Multiply-accumulates of one forward of `module` on `x` (conv and linear layers)."""
    total = 0

    def count(layer: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total += out.numel() * k
        elif isinstance(layer, nn.Linear):
            total += out.numel() * layer.in_features

    hooks = [m.register_forward_hook(count) for m in module.modules()]
    with torch.no_grad():
        y = module(x)
    for h in hooks:
        h.remove()
    return total, y


def client_stepper(parts: Parts) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """A client's minibatch step: the head (U-shaped: and the top) forward, backward and
    SGD step, with the tensors the server would return drawn at random."""
    client = parts.client_modules()
    optimizer = torch.optim.SGD(client.parameters(), lr=0.01, momentum=0.9)
    width = cut_shapes(parts, (1, 28, 28))[1]  # the server output the top takes

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        a = parts.head(x)
        if len(parts.top):  # U-shaped: the top's forward and backward too
            z = torch.randn(x.shape[0], *width, requires_grad=True)
            F.cross_entropy(parts.top(z), y).backward()  # type: ignore[no-untyped-call]
        a.backward(torch.ones_like(a))  # type: ignore[no-untyped-call]
        optimizer.step()

    return step


def time_epoch(step: object, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    started = time.perf_counter()
    for x, y in batches:
        step(x, y)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=125)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist", args.data_dir)
    batches = [
        (as_model_input(data.train_x[i * 32 : (i + 1) * 32]), data.train_y[i * 32 : (i + 1) * 32])
        for i in range(args.batches)
    ]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    full = build_model("net", (1, 28, 28), 10, 0)
    full_macs, _ = macs(full, batches[0][0][:1])
    optimizer = torch.optim.SGD(full.parameters(), lr=0.01, momentum=0.9)

    def full_step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(full(x), y).backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    rows = []
    for variant, layer in CUTS:
        parts = build_parts("net", (1, 28, 28), 10, 0, layer, variant)
        head_macs, a = macs(parts.head, batches[0][0][:1])
        top_macs = macs(parts.top, macs(parts.server, a)[1])[0] if len(parts.top) else 0
        client_step = client_stepper(parts)
        full_s, client_s = [], []
        for _ in range(args.repeats):  # interleaved: the machine's noise hits both alike
            full_s.append(time_epoch(full_step, batches))
            client_s.append(time_epoch(client_step, batches))
        f, c = statistics.median(full_s), statistics.median(client_s)
        rows.append((variant, layer, head_macs + top_macs, f, c))
    print(f"full model: {full_macs:,} MACs per example forward")
    print("| client part | MACs / example (forward) | of the full model | client s / epoch "
          "| full model s / epoch | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for variant, layer, m, f, c in rows:
        print(f"| {variant} cut after {layer} | {m:,} | {m / full_macs:.1%} | {c:.2f} | "
              f"{f:.2f} | {c / f:.2f} |")  # fmt: skip
    parts = build_parts("net", (1, 28, 28), 10, 0, "conv2", "vanilla")
    server_params = parts.cut.num_params - parts.cut.client_size
    one = 2 * 4 * server_params  # parameters and momentum, float32
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    copies = [copy.deepcopy(parts.server) for _ in range(15)]  # SplitRounds' SFLV1 copies
    for c in copies:  # and their momentum, as the optimiser creates it
        for p in c.parameters():
            p.grad = torch.zeros_like(p)
        torch.optim.SGD(c.parameters(), lr=0.01, momentum=0.9).step()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(
        f"server part after conv2: {server_params:,} parameters; with momentum "
        f"{one / 2**20:.2f} MiB for one part, {15 * one / 2**20:.2f} MiB for 15 "
        f"(peak RSS grew {grown / 1024:.1f} MiB building {len(copies)} with momentum)"
    )


if __name__ == "__main__":
    main()
