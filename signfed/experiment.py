"""`signfed experiment batch-modes`: the paper's Figure 1 grid, resumable, on every core.

Runs batch modes x algorithms x seeds as in-process simulations (signfed/grid.py runs
them, one per worker process, each with one torch thread, so its bits match a
networked run's). Every run lives in RUNS/<dataset>-mode<m>-<algorithm>-seed<s>/ (RUNS
defaults to OUT/runs, and can live apart from the results, e.g. outside git) with its
own metrics.jsonl (or, as committed under docs/results, metrics.jsonl.gz), summary.json,
log and (while it runs) checkpoint: a finished run is never recomputed, an interrupted
one resumes from its last checkpoint, and a run directory made with other settings is
an error, not silently reused. At the end the finished runs are gathered into
accuracy.csv and weights.csv, a summary table and the figures.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

from common.algorithms import get_algorithm
from common.batch_plan import BATCH_MODES
from common.config import AggregatorConfig, RunConfig
from signfed.experiment_config import BatchModesConfig

# metrics_file and records: re-exported for the readers of batch-mode runs
from signfed.grid import evaluations, is_finished, run_grid
from signfed.grid import metrics_file as metrics_file
from signfed.grid import records as records
from signfed.simulation_config import SimulationConfig

ACCURACY_FIELDS = ("dataset", "mode", "algorithm", "seed", "round", "accuracy", "loss")
WEIGHT_FIELDS = ("dataset", "mode", "seed", "round", "client", "batch_size", "mean_abs_weight")


@dataclass(frozen=True)
class RunSpec:
    name: str
    mode: int
    algorithm: str
    seed: int
    run: RunConfig


def plan_runs(config: BatchModesConfig) -> list[RunSpec]:
    """Every run of the grid, seed-major: an early stop leaves whole seeds finished.

    With --zeros abstain a sign algorithm runs as its own variant, named and reported
    "<algorithm>-abstain" (e.g. llr-abstain; llr-abstain-skip with --abstentions skip,
    which only llr has); coin runs keep the plain names. A float baseline has no zeros
    to abstain from: it runs once, with the coin variants."""
    specs = []
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    for seed, mode, zeros, algorithm in itertools.product(
        seeds, config.modes, config.zeros, config.algorithms
    ):
        if zeros != "coin" and get_algorithm(algorithm).baseline:
            continue
        skip = zeros == "abstain" and algorithm == "llr" and config.abstentions == "skip"
        sizes = BATCH_MODES[mode]
        run = RunConfig(
            dataset=config.dataset,
            num_clients=len(sizes),
            rounds=config.rounds,
            # a float baseline steps by its gradient, not by +-lr: its own lr
            learning_rate=config.sgd_lr if get_algorithm(algorithm).baseline else config.lr,
            lr_schedule=config.lr_schedule,
            seed=seed,
            eval_every=config.eval_every,
            batch_sizes=sizes,
            aggregator=AggregatorConfig(
                algorithm=algorithm,
                warmup_rounds=config.warmup_rounds,
                seed=seed,
                zeros=zeros,
                abstentions="skip" if skip else "disagree",
            ),
        )
        variant = variant_of(run.aggregator)
        name = f"{config.dataset}-mode{mode}-{variant}-seed{seed}"
        specs.append(RunSpec(name, mode, variant, seed, run))
    return specs


def variant_of(aggregator: AggregatorConfig) -> str:
    """How runs and reports name an algorithm's variant: llr, llr-abstain,
    llr-abstain-skip (the run folders' and accuracy.csv's algorithm column)."""
    variant = aggregator.algorithm
    if aggregator.zeros != "coin":
        variant += f"-{aggregator.zeros}"
    return variant + ("-skip" if aggregator.abstentions == "skip" else "")


def run_dir(config: BatchModesConfig, spec: RunSpec) -> Path:
    return config.runs_path() / spec.name


def simulation_of(config: BatchModesConfig, spec: RunSpec) -> SimulationConfig:
    """The simulation that runs `spec`, in its run directory."""
    return SimulationConfig(
        run=spec.run,
        out_dir=str(run_dir(config, spec)),
        data_dir=config.data_dir,
        checkpoint_every=config.checkpoint_every,
    )


def run_batch_modes(config: BatchModesConfig) -> list[RunSpec]:
    """Run every unfinished run of the grid; returns the whole plan."""
    specs = plan_runs(config)
    simulations = {spec.name: simulation_of(config, spec) for spec in specs}
    run_grid("batch-modes", simulations, workers=config.workers, out_dir=config.out_dir)
    return specs


def collect(config: BatchModesConfig, specs: list[RunSpec]) -> tuple[Path, Path, int]:
    """accuracy.csv and weights.csv from the finished runs; returns their paths and how
    many runs they hold."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    accuracy_path, weights_path = out / "accuracy.csv", out / "weights.csv"
    finished = 0
    with (
        open(accuracy_path, "w", newline="", encoding="utf-8") as acc_file,
        open(weights_path, "w", newline="", encoding="utf-8") as w_file,
    ):
        accuracy = csv.DictWriter(acc_file, ACCURACY_FIELDS)
        weights = csv.DictWriter(w_file, WEIGHT_FIELDS)
        accuracy.writeheader()
        weights.writeheader()
        for spec in specs:
            if not is_finished(simulation_of(config, spec)):
                continue
            finished += 1
            key = {"dataset": config.dataset, "mode": spec.mode, "seed": spec.seed}
            for done, r in evaluations(run_dir(config, spec)):
                accuracy.writerow(
                    {**key, "algorithm": spec.algorithm, "round": done}
                    | {"accuracy": r["accuracy"], "loss": r["loss"]}
                )
                for client, value in sorted(r.get("client_weights", {}).items(), key=_by_id):
                    weights.writerow(
                        {**key, "round": done, "client": client}
                        | {
                            "batch_size": spec.run.batch_size_for(int(client)),
                            "mean_abs_weight": value,
                        }
                    )
    return accuracy_path, weights_path, finished


def _by_id(item: tuple[str, float]) -> int:
    return int(item[0])
