"""Cost of a FedAvg round vs the clients' local training alone:
`python -m benchmarks.fedavg_round [--rounds 2] [--network-rounds 3] [--data-dir data]`.

MNIST `Net`, 15 clients, IID shards, E = 1 local epoch at batch 64 (about 63 SGD steps
per client per round). For each timed round t the benchmark first runs every client's
local epoch as a bare PyTorch loop (`torch.optim.SGD` over the very batches the client
draws in round t, from x^t): the work no system can avoid. Then one whole
`Simulation.step(t)`: the same epochs plus setting and reading parameters, encoding and
decoding float32 deltas, the weighted mean, the server's step and the byte accounting.
The target: a round costs at most the pure compute plus 20%. One torch thread.

With --network-rounds R > 0 it also runs `signfed local` for R rounds (15 client
processes and a server on this machine's cores) and sets its seconds per round
against the same pure compute spread over the cores the clients share.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common.config import AggregatorConfig, RunConfig  # noqa: E402
from common.data import load_dataset  # noqa: E402
from common.models import as_model_input  # noqa: E402
from common.params import set_flat  # noqa: E402
from common.sampling import local_batches  # noqa: E402
from signfed.simulation import Simulation, SimulationConfig  # noqa: E402

TARGET = 1.20
SETTING = ["--dataset", "mnist", "--algorithm", "fedavg", "--clients", "15", "--partition",
           "iid", "--local-epochs", "1", "--lr", "0.05", "--eval-every", "10000"]  # fmt: skip


def pure_seconds(sim: Simulation, t: int) -> float:
    """Sum over clients of its round-t local epoch as a bare torch loop from x^t."""
    run, total = sim.run, 0.0
    for trainer in sim.pool.clients.trainers():  # type: ignore[attr-defined]  # InProcessPool
        batches = local_batches(
            len(trainer.shard), trainer.batch_size, t, run.seed, trainer.client_id, epochs=1
        )
        set_flat(trainer.model, sim.master.flat)  # untimed: the loop alone is the reference
        model, x, y = trainer.model, sim.dataset.train_x, sim.dataset.train_y
        optimizer = torch.optim.SGD(model.parameters(), lr=run.learning_rate)
        start = time.perf_counter()
        for positions in batches:
            batch = torch.from_numpy(trainer.shard[positions])
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(as_model_input(x[batch])), y[batch]).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        total += time.perf_counter() - start
    return total


def simulated(data_dir: str, rounds: int, out: Path) -> tuple[float, float]:
    """Median pure compute and median simulated round, seconds."""
    run = RunConfig(
        dataset="mnist",
        num_clients=15,
        rounds=10_000,
        eval_every=10_000,
        partition="iid",
        learning_rate=0.05,
        aggregator=AggregatorConfig(algorithm="fedavg"),
    )
    sim = Simulation(SimulationConfig(run, out_dir=str(out)), load_dataset("mnist", data_dir))
    sim.step(0)  # the first round pays for allocations
    pures, steps = [], []
    for t in range(1, rounds + 1):
        pures.append(pure_seconds(sim, t))
        start = time.perf_counter()
        sim.step(t)
        steps.append(time.perf_counter() - start)
    return statistics.median(pures), statistics.median(steps)


def networked(data_dir: str, rounds: int, out: Path) -> float:
    """Median seconds per round of `signfed local` after round 0 (joins and warm-up)."""
    argv = [sys.executable, "-m", "signfed.cli", "local", *SETTING, "--rounds", str(rounds)]
    argv += ["--data-dir", data_dir, "--out", str(out), "--overwrite"]
    subprocess.run(argv, check=True, capture_output=True, timeout=3600)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    seconds = [json.loads(line)["seconds"] for line in lines]
    return statistics.median(b - a for a, b in zip(seconds, seconds[1:], strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed simulated rounds")
    parser.add_argument("--network-rounds", type=int, default=3, help="0: no network run")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {platform.machine()}, {cores} CPUs, torch {torch.__version__}; MNIST Net, 15 "
          f"clients, IID, E=1, batch 64; load average before the run {load}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        pure, step = simulated(args.data_dir, args.rounds, Path(scratch) / "sim")
        verdict = "ok" if step / pure <= TARGET else "OVER"
        print(f"# median of {args.rounds} rounds, one torch thread (s)")
        print(f"pure compute {pure:8.2f}  simulated round {step:8.2f}  "
              f"ratio {step / pure:6.3f}  target <= {TARGET:.2f}  {verdict}")  # fmt: skip
        if args.network_rounds > 0:
            net = networked(args.data_dir, args.network_rounds, Path(scratch) / "net")
            share = min(cores, 15)
            spread = pure / share
            print(f"# signfed local, {args.network_rounds} rounds: 15 client processes on "
                  f"{cores} cores, so the ideal round is the pure compute / {share}")  # fmt: skip
            print(f"ideal {spread:8.2f}  network round {net:8.2f}  ratio {net / spread:6.3f}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# load average after the run {load}")


if __name__ == "__main__":
    main()
