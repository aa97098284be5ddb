"""Bytes on the wire per client per round, up and down, for every algorithm and encoding:
`python -m benchmarks.bytes_table [--data-dir data]`.

MNIST `Net` (N = 582,026), 15 clients at batch 64, IID. Each setting is simulated for
three rounds and round 2's traffic is read from its metrics: the simulation counts
the very messages the server reads and writes (protobuf and gRPC framing included; a
test holds it equal to a networked run's), so these are the bytes of a real cluster.
The ternary payload's size follows the share of exact zeros in the gradient, which
changes over training: its row is one early measurement, not a constant.
FedAvg runs one local step here (its bytes do not depend on the number of steps).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from common.algorithms import available, get_algorithm
from common.config import AggregatorConfig, RunConfig
from common.data import Dataset, load_dataset
from signfed.simulation import Simulation, SimulationConfig

CLIENTS, ROUND = 15, 2


def measure(dataset: Dataset, algorithm: str, encoding: str, out: Path) -> tuple[int, int, int]:
    """(N, bytes up, bytes down) per client in round ROUND."""
    zeros = "abstain" if encoding == "ternary" else "coin"
    run = RunConfig(
        dataset=dataset.name,
        num_clients=CLIENTS,
        rounds=ROUND + 1,
        eval_every=10_000,
        partition="iid",
        local_steps=1,
        update_encoding=encoding,
        decision_encoding=encoding,
        aggregator=AggregatorConfig(algorithm=algorithm, zeros=zeros, warmup_rounds=1),
    )
    sim = Simulation(SimulationConfig(run, out_dir=str(out), checkpoint_every=0), dataset)
    records = [sim.step(t) for t in range(ROUND + 1)]
    sim.pool.close()
    record = records[ROUND]
    return sim.engine.num_params, record["bytes_up"] // CLIENTS, record["bytes_down"] // CLIENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("mnist", args.data_dir)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in available():
            algorithm = get_algorithm(name)
            for encoding in algorithm.update_encodings:
                n, up, down = measure(dataset, name, encoding, Path(scratch) / f"{name}-{encoding}")
                rows.append((name, encoding, n, up, down))
    float32 = 4 * rows[0][2]
    print(f"# MNIST Net, {CLIENTS} clients, batch 64, round {ROUND}; bytes per client per round")
    print("| --algorithm | encoding (up and down) | up (B) | down (B) | x fewer than float32 |")
    print("|---|---|---:|---:|---:|")
    for name, encoding, _, up, down in rows:
        print(f"| `{name}` | {encoding} | {up:,} | {down:,} | {float32 / max(up, down):.1f} |")
    print(json.dumps({"float32_payload": float32}))


if __name__ == "__main__":
    main()
