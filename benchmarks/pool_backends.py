"""Rounds per second of each client-pool backend on this machine's cores:
`python -m benchmarks.pool_backends [--rounds 5] [--backends inprocess,process]
[--data-dir data]`.

15 MNIST clients (IID shards, the paper's Net), two workloads:

- fedavg: 5 local SGD steps at batch 64 per client and round (a selected client's
  local training: the pool's work dominates the round);
- llr: one minibatch gradient at batch 64 per client, signs up, the LLR vote (the
  server's serial share, ~40 ms a round, is a larger part).

Each backend runs the same rounds, alternating A B A B so a change of load hurts both
alike; the first round of each run (workers starting, caches warming) is left out and
reported apart. One torch thread per worker, as in-process: the bits are the same
(tests/unit/test_client_pools.py), only the cores differ. Evaluation is off.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from common.config import AggregatorConfig, RunConfig  # noqa: E402
from common.data import load_dataset  # noqa: E402
from signfed.client_pool import worker_count  # noqa: E402
from signfed.pool_config import PoolConfig  # noqa: E402
from signfed.simulation import Simulation, SimulationConfig  # noqa: E402

WORKLOADS = {
    "fedavg": {"aggregator": AggregatorConfig(algorithm="fedavg"), "local_steps": 5},
    "llr": {"aggregator": AggregatorConfig(algorithm="llr")},
}


def timed_run(workload: str, backend: str, rounds: int, data_dir: str) -> tuple[float, list[float]]:
    """(seconds to build the simulation and run round 0, seconds of each later round)."""
    run = RunConfig(
        dataset="mnist",
        num_clients=15,
        rounds=rounds,
        partition="iid",
        learning_rate=0.01,
        eval_every=10**6,
        **WORKLOADS[workload],  # type: ignore[arg-type]
    )
    dataset = load_dataset("mnist", data_dir)
    with tempfile.TemporaryDirectory() as out:
        config = SimulationConfig(run, out_dir=out, data_dir=data_dir, pool=PoolConfig(backend))
        started = time.perf_counter()
        sim = Simulation(config, dataset)
        try:
            sim.step(0)
            first = time.perf_counter() - started
            seconds = []
            for t in range(1, rounds):
                tick = time.perf_counter()
                sim.step(t)
                seconds.append(time.perf_counter() - tick)
        finally:
            sim.pool.close()
    return first, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", default="inprocess,process")
    parser.add_argument("--workloads", default="fedavg,llr")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    backends = args.backends.split(",")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{worker_count(0)} workers for process; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'workload':9} {'backend':10} {'first s':>8} {'s/round':>8} {'rounds/s':>9} "
          f"{'vs inprocess':>12}")  # fmt: skip
    for workload in args.workloads.split(","):
        rounds: dict[str, list[float]] = {b: [] for b in backends}
        first: dict[str, list[float]] = {b: [] for b in backends}
        for _ in range(args.repeats):
            for backend in backends:
                start, seconds = timed_run(workload, backend, args.rounds, args.data_dir)
                first[backend].append(start)
                rounds[backend] += seconds
        base = statistics.median(rounds[backends[0]])
        for backend in backends:
            median = statistics.median(rounds[backend])
            print(f"{workload:9} {backend:10} {statistics.median(first[backend]):8.2f} "
                  f"{median:8.3f} {1 / median:9.2f} {base / median:11.2f}x")  # fmt: skip
    print(f"# load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
