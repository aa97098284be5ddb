"""How well does each decoder recover the sign of the round's gradient?
`python -m benchmarks.decoder_agreement [--dataset mnist] [--modes 3,4] [--rounds 300]
[--data-dir data]`.

The 15-client setting of the paper (MNIST or Fashion-MNIST), one process (the code of
`signfed simulate`). The trajectory follows IT-signSGD (llr); in every round the same
15 votes are also decoded by plain majority (mv), and both decisions are compared with a
reference sign: the gradient at x^t on an independent minibatch of `--ref-batch`
examples (its own seed, so it shares no examples with the clients' draws and favours no
client). Reported per block of rounds:

- agree: the fraction of coordinates whose decision has that sign;
- agree|g|: the same, weighted by |mean gradient| (the coordinates that move the loss);
- llr != mv: how often the LLR-weighted vote overrules the majority;
- per client group (batch size): agreement of its votes with that sign, its mean |w|.

It shows whether the LLR weights, estimated decision-directed (eq. (4) measures a
client against the decoded sign U, not the truth), find the reliable clients.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from client.trainer import LocalTrainer  # noqa: E402
from common.aggregators.bits import majority_packed  # noqa: E402
from common.algorithms.signs import sign_vote  # noqa: E402
from common.batch_plan import BATCH_MODES  # noqa: E402
from common.codec import unpack_signs  # noqa: E402
from common.config import AggregatorConfig, RunConfig  # noqa: E402
from common.data import load_dataset  # noqa: E402
from common.step import sign_step  # noqa: E402
from signfed.simulation import Simulation, SimulationConfig  # noqa: E402

REFERENCE_SEED = 7919  # offset of the reference minibatches' seed


def run_mode(
    dataset_name: str, mode: int, rounds: int, block: int, data_dir: str, seed: int, ref_batch: int
) -> None:
    sizes = BATCH_MODES[mode]
    run = RunConfig(
        dataset=dataset_name,
        num_clients=len(sizes),
        rounds=rounds,
        seed=seed,
        batch_sizes=sizes,
        aggregator=AggregatorConfig(algorithm="llr", seed=seed),
    )
    dataset = load_dataset(dataset_name, data_dir, seed=seed)
    sim = Simulation(SimulationConfig(run=run, out_dir="/dev/null", data_dir=data_dir), dataset)
    aggregator = sim.engine.aggregator
    n, ids = sim.num_params, sim.pool.client_ids
    trainers = sim.pool.clients.trainers()  # type: ignore[attr-defined]  # InProcessPool
    # Another seed: another shuffle and other draws than any client's.
    reference = LocalTrainer(replace(run, seed=seed + REFERENCE_SEED), 0, ref_batch, dataset)
    groups = sorted(set(sizes))
    members = {b: [i for i, s in enumerate(sizes) if s == b] for b in groups}
    split = " + ".join(f"{sizes.count(b)} x {b}" for b in groups)
    print(f"\n{dataset_name}, mode {mode} ({split}), seed {seed}")
    print(
        f"{'rounds':>9}  {'llr agree':>9} {'mv agree':>8}  {'llr |g|':>7} {'mv |g|':>7}  "
        f"{'llr!=mv':>7}  "
        + "  ".join(f"{'B=' + str(b) + ' agree':>11} {'|w|':>5}" for b in groups)
    )
    acc: dict[str, list[float]] = defaultdict(list)
    for t in range(rounds):
        flat = sim.master.flat
        grads = [trainer.gradient(flat, t) for trainer in trainers]
        votes = np.stack([sign_vote(g, seed, i, t) for i, g in enumerate(grads)])
        mean = reference.gradient(flat, t).astype(np.float64)
        truth = mean > 0
        magnitude = np.abs(mean)
        decided = unpack_signs(aggregator.aggregate(votes, ids, t), n)
        llr = decided > 0
        mv = unpack_signs(majority_packed(votes, n, None), n) > 0
        acc["llr"].append(float(np.mean(llr == truth)))
        acc["mv"].append(float(np.mean(mv == truth)))
        acc["llr_g"].append(float(magnitude[llr == truth].sum() / magnitude.sum()))
        acc["mv_g"].append(float(magnitude[mv == truth].sum() / magnitude.sum()))
        acc["differ"].append(float(np.mean(llr != mv)))
        summary = aggregator.client_weight_summary()
        for b in groups:
            acc[f"agree{b}"].append(
                float(np.mean([np.mean((grads[i] > 0) == truth) for i in members[b]]))
            )
            acc[f"w{b}"].append(float(np.mean([summary[i] for i in members[b]])))
        # as the llr run does
        sim.master.commit(sign_step(flat, decided, run.learning_rate_at(t)), t + 1)
        if (t + 1) % block == 0:

            def mean_of(key: str) -> float:
                return float(np.mean(acc[key][-block:]))

            print(
                f"{t + 2 - block:>4}-{t + 1:<4}  {mean_of('llr'):>9.4f} {mean_of('mv'):>8.4f}  "
                f"{mean_of('llr_g'):>7.4f} {mean_of('mv_g'):>7.4f}  {mean_of('differ'):>7.4f}  "
                + "  ".join(
                    f"{mean_of(f'agree{b}'):>11.4f} {mean_of(f'w{b}'):>5.2f}" for b in groups
                ),
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--modes", default="3,4")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref-batch", type=int, default=1024)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for mode in (int(m) for m in args.modes.split(",")):
        run_mode(
            args.dataset, mode, args.rounds, args.block, args.data_dir, args.seed, args.ref_batch
        )


if __name__ == "__main__":
    main()
