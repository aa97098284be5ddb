"""Cost of one simulated round vs the clients' own work:
`python -m benchmarks.simulate_round [--rounds 6] [--data-dir data]`.

The 15-client MNIST setting of the paper (Net, N = 582,026) in batch modes 1 and 4.
For each round t the benchmark first times every client's forward+backward pass alone,
on the very minibatch it draws in round t at x^t (the work no simulator can avoid), then
one whole `Simulation.step(t)`: the same passes plus setting the parameters, reading
the gradients, the algorithm's update (packing signs), encoding and decoding the
payloads, the round engine's vote and update, and the byte accounting.
The target: a step costs at most the sum of the 15 passes plus 20%. One torch thread,
as in `signfed experiment` workers; medians over rounds; no evaluation rounds.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common.algorithms import available, get_algorithm  # noqa: E402
from common.batch_plan import BATCH_MODES  # noqa: E402
from common.config import AggregatorConfig, RunConfig  # noqa: E402
from common.data import Dataset, load_dataset  # noqa: E402
from common.models import as_model_input  # noqa: E402
from common.params import set_flat  # noqa: E402
from common.sampling import minibatch_indices  # noqa: E402
from signfed.simulation import Simulation, SimulationConfig  # noqa: E402

TARGET = 1.20  # a step may cost the clients' passes plus 20%


def passes_seconds(sim: Simulation, t: int) -> float:
    """Sum over clients of one forward+backward on its round-t minibatch at x^t."""
    total = 0.0
    for trainer in sim.pool.clients.trainers():  # type: ignore[attr-defined]  # InProcessPool
        positions = minibatch_indices(
            len(trainer.shard), trainer.batch_size, t, sim.run.seed, trainer.client_id
        )
        batch = torch.from_numpy(trainer.shard[positions])
        inputs = as_model_input(sim.dataset.train_x[batch])
        labels = sim.dataset.train_y[batch]
        set_flat(trainer.model, sim.master.flat)  # untimed: the pass alone is the reference
        trainer.model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        F.cross_entropy(trainer.model(inputs), labels).backward()  # type: ignore[no-untyped-call]
        total += time.perf_counter() - start
    return total


def measure(dataset: Dataset, mode: int, algorithm: str, rounds: int, out: Path) -> str:
    run = RunConfig(
        dataset=dataset.name,
        num_clients=15,
        rounds=10_000,  # no evaluation or last-round work inside the timed rounds
        eval_every=10_000,
        batch_sizes=BATCH_MODES[mode],
        learning_rate=0.1 if get_algorithm(algorithm).baseline else 1e-3,
        # Weighted from round 1: the steady-state llr vote, not the warm-up's majority.
        aggregator=AggregatorConfig(algorithm=algorithm, warmup_rounds=1),
    )
    sim = Simulation(SimulationConfig(run, out_dir=str(out)), dataset)
    sim.step(0)  # first round pays for allocations and caches
    passes, steps, votes = [], [], []
    for t in range(1, rounds + 1):
        passes.append(passes_seconds(sim, t))
        start = time.perf_counter()
        record = sim.step(t)
        steps.append(time.perf_counter() - start)
        votes.append(record["aggregate_ms"])
    p, s = statistics.median(passes) * 1e3, statistics.median(steps) * 1e3
    ratio = s / p
    verdict = "ok" if ratio <= TARGET else "OVER"
    return (
        f"mode {mode}  {algorithm:<4} {p:10.1f} {s:10.1f} {s - p:10.1f} "
        f"{statistics.median(votes):9.1f} {ratio:7.3f}  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per setting")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="runs/bench-simulate", help="scratch run directory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        dataset = load_dataset("mnist", args.data_dir)
        source = "MNIST"
    except FileNotFoundError:
        dataset = _synthetic_mnist()
        source = "synthetic 28x28 stand-in for MNIST (run `make data` for the real one)"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one "
        f"thread; {source}; load average before the run {load}"
    )
    print(f"# one simulated round vs the sum of the 15 clients' forward+backward passes, "
          f"median of {args.rounds} rounds (ms)")  # fmt: skip
    print(f"{'setting':<12} {'passes':>10} {'step':>10} {'overhead':>10} {'vote':>9} "
          f"{'ratio':>7}  target <= {TARGET:.2f}")  # fmt: skip
    for mode in (1, 4):
        for algorithm in available():
            if get_algorithm(algorithm).local_training:  # its own: benchmarks/fedavg_round.py
                continue
            print(measure(dataset, mode, algorithm, args.rounds, Path(args.out)), flush=True)


def _synthetic_mnist() -> Dataset:
    generator = torch.Generator().manual_seed(0)
    return Dataset(
        train_x=torch.randn(60_000, 1, 28, 28, generator=generator),
        train_y=torch.randint(0, 10, (60_000,), generator=generator),
        test_x=torch.randn(100, 1, 28, 28, generator=generator),
        test_y=torch.randint(0, 10, (100,), generator=generator),
        num_classes=10,
        input_shape=(1, 28, 28),
        name="mnist",
    )


if __name__ == "__main__":
    main()
