"""Model downloads in asynchronous training, full against exact deltas:
`python -m benchmarks.model_delta [--data-dir data]`.

MNIST `Net` (N = 582,026), 15 clients, IID, FedAsync (alpha 0.6, polynomial a = 0.5),
each update 20 local steps at batch 64. Versions x0 .. x4 come from clients 0..3 in
turn; a client that held version a and fetches version b downloads the full model
(raw, or deflated with its byte planes apart) or the XOR delta of a and b
(common/model_delta.py). Times are one deflate each, single thread.
"""

from __future__ import annotations

import argparse
import os
import time
import zlib

import numpy as np
import torch

from client.trainer import LocalTrainer
from common.config import AggregatorConfig, RunConfig
from common.data import load_dataset
from common.model_delta import LEVEL, apply_xor_delta, byte_planes, xor_delta
from common.staleness import mix, staleness_weight
from server.master import MasterModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = RunConfig(
        dataset="mnist", num_clients=15, partition="iid", learning_rate=0.05, local_steps=20,
        aggregator=AggregatorConfig(algorithm="fedavg"),
    )  # fmt: skip
    dataset = load_dataset("mnist", args.data_dir, seed=0)
    versions = [MasterModel(run, dataset).flat]
    for client in range(4):  # each trained from the version before: staleness 0
        local = LocalTrainer(run, client, 64, dataset).local_model(versions[-1], 0)
        versions.append(mix(versions[-1], local, 0.6 * staleness_weight("polynomial", 0, 0.5, 4)))
    raw = versions[0].nbytes
    print(f"# load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; N = {versions[0].size}")
    full = len(zlib.compress(byte_planes(versions[-1].view(np.uint32)), LEVEL))
    print(f"full model          {raw:>9,} B   deflated (planes) {full:>9,} B  {raw / full:.3f}x")
    for held, current in ((0, 1), (3, 4), (1, 4), (0, 4)):
        started = time.perf_counter()
        delta = xor_delta(versions[held], versions[current])
        ms = 1e3 * (time.perf_counter() - started)
        assert apply_xor_delta(versions[held], delta).tobytes() == versions[current].tobytes()
        print(
            f"delta x{held} -> x{current} ({current - held} apart)  {len(delta):>9,} B  "
            f"{raw / len(delta):.3f}x smaller than raw, {full / len(delta):.3f}x than deflated "
            f"full   {ms:.0f} ms"
        )


if __name__ == "__main__":
    main()
