"""How compactly can a ternary vote say which coordinates are exactly zero?
`python -m benchmarks.zero_sets [--rounds 300] [--data-dir data]` (issue 14).

A sign vote with abstaining zeros is the signs of the non-zero coordinates plus the
set of zero coordinates. On the MNIST `Net` that set is large for small batches (dead
ReLU units zero whole rows of a weight matrix, inputs that are zero for every example
of the batch zero whole columns) and structured. This measures, on real gradients at
several points of an IT-signSGD run (batch mode 4, the paper's lr), the bits per
coordinate of candidate encodings of (zero set + signs of the rest), gRPC framing of
one Update included, and how fast each encodes.

Candidates (each: the zero set, then one packed sign bit per non-zero coordinate):
- bitmap+zlib   : the packed zero bitmap through zlib level 6 (the issue's baseline)
- bitmap+lzma   : the same bitmap through lzma (xz, preset 6)
- bitmap+bz2    : the same bitmap through bz2 (level 9)
- rows/cols     : per weight matrix, the rows and columns that are all zero (two small
                  bitmaps), plus the zeros they do not explain, as a zlib'd bitmap of the
                  remainder; needs the parameter shapes, which both sides know
- ternary       : the codec itself (common/ternary.py, bound to the Net's layout): the
                  real payload, decoded and checked equal to the row; encode MB/s counts
                  ternary_row + encode, decode MB/s the decode, best of 3 runs each

The four candidates count one bit per nonzero sign; the codec shows signs are far from
coin flips (a row leans to one sign, fc1's gradient is nearly low rank), which is most
of its saving.
"""

from __future__ import annotations

import argparse
import bz2
import lzma
import os
import platform
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from common.batch_plan import BATCH_MODES
from common.config import AggregatorConfig, RunConfig
from common.data import load_dataset
from common.ternary import Ternary, layout_of, ternary_row
from signfed.simulation import Simulation, SimulationConfig

FRAMING = 29  # bytes: one Update message's fields and gRPC frame (README, wire protocol)
Shapes = list[tuple[int, ...]]
T = TypeVar("T")


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(bits, bitorder="little").tobytes()


def bitmap_with(compress: Callable[[bytes], bytes]) -> Callable[[np.ndarray, Shapes], int]:
    def size(zero: np.ndarray, shapes: Shapes) -> int:
        return len(compress(_pack(zero)))

    return size


def rows_cols(zero: np.ndarray, shapes: Shapes) -> int:
    """Zero rows and columns of each matrix (conv kernels flattened to out x rest), and
    a zlib'd bitmap of the zeros those do not explain."""
    explained = np.zeros_like(zero)
    side = 0
    offset = 0
    for shape in shapes:
        n = int(np.prod(shape))
        block = zero[offset : offset + n]
        if len(shape) >= 2:
            matrix = block.reshape(shape[0], -1)
            rows, cols = np.asarray(matrix.all(axis=1)), np.asarray(matrix.all(axis=0))
            side += (rows.size + cols.size + 7) // 8
            explained[offset : offset + n] = (rows[:, None] | cols[None, :]).reshape(-1)
        offset += n
    rest = zero & ~explained
    return side + len(zlib.compress(_pack(rest), 6))


ENCODINGS: dict[str, Callable[[np.ndarray, Shapes], int]] = {
    "bitmap+zlib": bitmap_with(lambda b: zlib.compress(b, 6)),
    "bitmap+lzma": bitmap_with(lambda b: lzma.compress(b, preset=6)),
    "bitmap+bz2": bitmap_with(lambda b: bz2.compress(b, 9)),
    "rows/cols": rows_cols,
}


def measure(gradient: np.ndarray, shapes: Shapes) -> dict[str, tuple[float, float]]:
    """encoding -> (bits per coordinate incl. framing, encode MB/s of the float vector)."""
    zero = gradient == 0
    signs = (len(gradient) - int(zero.sum()) + 7) // 8
    result = {}
    for name, size in ENCODINGS.items():
        started = time.perf_counter()
        nbytes = size(zero, shapes) + signs + FRAMING
        seconds = time.perf_counter() - started
        result[name] = (8 * nbytes / len(gradient), gradient.nbytes / seconds / 1e6)
    return result


def _best_of_3(run: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds) of the fastest of three runs: the machine is shared."""
    timed = []
    for _ in range(3):
        started = time.perf_counter()
        result = run()
        timed.append((time.perf_counter() - started, result))
    seconds, result = min(timed, key=lambda pair: pair[0])
    return result, seconds


def measure_ternary(gradient: np.ndarray, codec: Ternary) -> tuple[float, float, float]:
    """(bits per coordinate incl. framing, encode MB/s, decode MB/s) of the real codec."""
    data, encode_s = _best_of_3(lambda: codec.encode(ternary_row(gradient)))
    row, decode_s = _best_of_3(lambda: codec.decode(data, len(gradient)))
    assert np.array_equal(row, ternary_row(gradient)), "ternary payload is not lossless"
    bits = 8 * (len(data) + FRAMING) / len(gradient)
    return bits, gradient.nbytes / encode_s / 1e6, gradient.nbytes / decode_s / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="training rounds to sample")
    parser.add_argument("--at", default="0,50,150,300", help="rounds to sample gradients at")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="runs/bench-zero-sets")
    args = parser.parse_args()
    torch.set_num_threads(1)
    at = sorted({int(x) for x in args.at.split(",")})
    dataset = load_dataset("mnist", args.data_dir)
    run = RunConfig(
        dataset="mnist",
        num_clients=15,
        rounds=max(at) + 1,
        eval_every=10_000,
        batch_sizes=BATCH_MODES[4],
        aggregator=AggregatorConfig(algorithm="llr"),
    )
    sim = Simulation(SimulationConfig(run, out_dir=str(Path(args.out))), dataset)
    trainers = sim.pool.clients.trainers()  # type: ignore[attr-defined]  # InProcessPool
    shapes = [tuple(p.shape) for p in trainers[0].model.parameters()]
    # Client 0 has batch 4, client 14 batch 904; batch 64 is a client-0 trainer re-sized.
    probes = {4: trainers[0], 904: trainers[14]}
    wide = type(trainers[0])(run, 1, 64, dataset)
    probes[64] = wide
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one thread; "
          f"MNIST Net (N = {sim.num_params:,}); load average {load}")  # fmt: skip
    print("# bits per coordinate of (zero set + signs of the rest + 29 B framing), encode MB/s;")
    print("# ternary: the codec's payload + 29 B, encode / decode MB/s (of the float32 vector)")
    print("# 3 minibatches per cell, median; zeros: share of coordinates exactly 0")
    ternary = Ternary(layout_of(shapes))
    print(f"{'round':>5} {'batch':>5} {'zeros':>6}  " + "  ".join(f"{n:>18}" for n in ENCODINGS)
          + f"  {'ternary':>24}")  # fmt: skip
    t = 0
    for target in at:
        while t < target:
            sim.step(t)
            t += 1
        for batch in (4, 64, 904):
            gradients = [probes[batch].gradient(sim.master.flat, t + k) for k in range(3)]
            cells = [measure(g, shapes) for g in gradients]
            own = [measure_ternary(g, ternary) for g in gradients]
            zeros = statistics.median(float((g == 0).mean()) for g in gradients)
            row = [
                f"{statistics.median(c[n][0] for c in cells):8.3f} "
                f"{statistics.median(c[n][1] for c in cells):7.0f}MB/s"
                for n in ENCODINGS
            ]
            bits, enc, dec = (statistics.median(c[i] for c in own) for i in range(3))
            row.append(f"{bits:8.3f} {enc:5.0f}/{dec:5.0f}MB/s")
            print(f"{t:>5} {batch:>5} {zeros:>6.1%}  " + "  ".join(f"{r:>18}" for r in row),
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
