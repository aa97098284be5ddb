"""What --pooled LLR statistics cost in decoding quality under partial participation,
where per-coordinate counters still fit: `python -m benchmarks.llr_partial
[--clients 100] [--per-round 15] [--rounds 300] [--data-dir data]`.

M clients on MNIST (each a shuffled copy of the training set, as in the paper), 80 %
at batch 4 and 20 % at batch 128: clients of very different reliability, which the
LLR weights exist to tell apart. K are drawn each round. The trajectory follows
IT-signSGD with per-coordinate counters (the full statistics: 4 N bytes a client); in
every round the same K votes are also decoded by a pooled twin (one crossing
probability per client, 32 bytes) fed the same votes and ids, and by plain majority.
Each decision is compared with a reference sign: the gradient at x^t on an independent
minibatch of --ref-batch examples (its own seed, shared with no client). Reported per
block of rounds: agreement with that sign (all coordinates, and weighted by |g|), and
how often pooled and full decide differently. Then both statistics train their own
run for the same rounds (`signfed simulate`'s code) and the test accuracy is printed.
The warm-up is --warmup rounds: a client is established after that many votes of its
own, which with K/M = 15 % takes about 7 rounds per vote.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from client.trainer import LocalTrainer  # noqa: E402
from common.aggregators.bits import majority_packed  # noqa: E402
from common.algorithms import create_aggregator  # noqa: E402
from common.algorithms.signs import sign_vote  # noqa: E402
from common.codec import unpack_signs  # noqa: E402
from common.config import AggregatorConfig, RunConfig  # noqa: E402
from common.data import Dataset, load_dataset  # noqa: E402
from common.step import sign_step  # noqa: E402
from signfed.simulation import Simulation, SimulationConfig  # noqa: E402

REFERENCE_SEED = 7919  # offset of the reference minibatches' seed


def make_run(args: argparse.Namespace, pooled: bool) -> RunConfig:
    big = args.clients // 5
    return RunConfig(
        dataset="mnist",
        num_clients=args.clients,
        clients_per_round=args.per_round,
        rounds=args.rounds,
        seed=args.seed,
        eval_every=args.rounds,
        batch_sizes=(4,) * (args.clients - big) + (128,) * big,
        aggregator=AggregatorConfig(
            algorithm="llr", seed=args.seed, warmup_rounds=args.warmup, pooled=pooled
        ),
    )


def agreement(args: argparse.Namespace, dataset: Dataset) -> None:
    run = make_run(args, pooled=False)
    with tempfile.TemporaryDirectory() as out:
        config = SimulationConfig(run=run, out_dir=out, data_dir=args.data_dir)
        sim = Simulation(config, dataset)
    full, n, clients = sim.engine.aggregator, sim.num_params, sim.pool.clients  # type: ignore[attr-defined]
    pooled = create_aggregator(replace(run.aggregator, pooled=True), n)
    reference = LocalTrainer(
        replace(run, seed=args.seed + REFERENCE_SEED), 0, args.ref_batch, dataset
    )
    print(f"\n{args.clients} clients ({args.clients // 5} at batch 128, the rest at 4), "
          f"{args.per_round} a round, warm-up {args.warmup}, seed {args.seed}")  # fmt: skip
    print(f"{'rounds':>9}  {'full':>7} {'pooled':>7} {'mv':>7}  {'full|g|':>7} {'pool|g|':>7} "
          f"{'mv|g|':>7}  {'pool!=full':>10}")  # fmt: skip
    acc: dict[str, list[float]] = defaultdict(list)
    for t in range(args.rounds):
        flat, ids = sim.master.flat, list(run.drawn(t))
        votes = np.stack([
            sign_vote(clients.trainer(i).gradient(flat, t), args.seed, i, t) for i in ids
        ])  # fmt: skip
        mean = reference.gradient(flat, t).astype(np.float64)
        truth, magnitude = mean > 0, np.abs(mean)
        decided = unpack_signs(full.aggregate(votes, ids, t), n)
        decisions = {
            "full": decided > 0,
            "pooled": unpack_signs(pooled.aggregate(votes, ids, t), n) > 0,
            "mv": unpack_signs(majority_packed(votes, n, None), n) > 0,
        }
        for name, signs in decisions.items():
            acc[name].append(float(np.mean(signs == truth)))
            acc[name + "_g"].append(float(magnitude[signs == truth].sum() / magnitude.sum()))
        acc["differ"].append(float(np.mean(decisions["pooled"] != decisions["full"])))
        sim.master.commit(sign_step(flat, decided, run.learning_rate_at(t)), t + 1)
        if (t + 1) % args.block == 0:
            m = {key: float(np.mean(values[-args.block :])) for key, values in acc.items()}
            print(f"{t + 2 - args.block:>4}-{t + 1:<4}  {m['full']:>7.4f} {m['pooled']:>7.4f} "
                  f"{m['mv']:>7.4f}  {m['full_g']:>7.4f} {m['pooled_g']:>7.4f} {m['mv_g']:>7.4f}  "
                  f"{m['differ']:>10.4f}", flush=True)  # fmt: skip


def accuracies(args: argparse.Namespace, dataset: Dataset) -> None:
    for pooled in (False, True):
        with tempfile.TemporaryDirectory() as out:
            run = make_run(args, pooled)
            config = SimulationConfig(run=run, out_dir=out, data_dir=args.data_dir)
            summary = Simulation(config, dataset).run_all()
        name = "pooled" if pooled else "full (per coordinate)"
        print(f"trained with {name:22} {args.rounds} rounds: test accuracy "
              f"{summary['final_accuracy']:.4f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-round", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref-batch", type=int, default=1024)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("mnist", args.data_dir)
    agreement(args, dataset)
    accuracies(args, dataset)


if __name__ == "__main__":
    main()
