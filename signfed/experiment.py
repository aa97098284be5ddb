"""`signfed experiment batch-modes`: the paper's Figure 1 grid, resumable, on every core.

Runs batch modes x algorithms x seeds as in-process simulations, one run per worker
process (each with one torch thread, so its bits match a networked run's). Every run
lives in RUNS/<dataset>-mode<m>-<algorithm>-seed<s>/ (RUNS defaults to OUT/runs, and
can live apart from the results, e.g. outside git) with its own metrics.jsonl (or, as
committed under docs/results, metrics.jsonl.gz), summary.json, log and (while it runs)
checkpoint: a finished run is never recomputed, an interrupted one resumes from its last
checkpoint, and a run directory made with other settings is an error, not silently
reused. At the end the finished runs are gathered into accuracy.csv and weights.csv, a
summary table and the figures.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from common.algorithms import get_algorithm
from common.batch_plan import BATCH_MODES
from common.config import (
    AggregatorConfig,
    ConfigError,
    RunConfig,
    config_json,
    run_config_from_json,
)
from signfed.experiment_config import BatchModesConfig
from signfed.simulation import Simulation, SimulationConfig

log = logging.getLogger(__name__)

ACCURACY_FIELDS = ("dataset", "mode", "algorithm", "seed", "round", "accuracy", "loss")
WEIGHT_FIELDS = ("dataset", "mode", "seed", "round", "client", "batch_size", "mean_abs_weight")
PROGRESS_EVERY_S = 60.0  # between "running: ..." lines while no run finishes


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
    return Path(config.runs_dir or Path(config.out_dir) / "runs") / spec.name


def is_finished(directory: Path, run: RunConfig) -> bool:
    """A summary of this very configuration, written at the end of a clean run."""
    path = directory / "summary.json"
    if not path.exists():
        return False
    summary = json.loads(path.read_text(encoding="utf-8"))
    # through RunConfig: a setting added since the run was made reads as its default
    if config_json(run_config_from_json(summary.get("config") or {})) != config_json(run):
        raise ConfigError(
            f"{directory} holds a run with other settings; use another --out or delete it"
        )
    return summary.get("error") is None and summary.get("rounds") == run.rounds


def _run_one(run: RunConfig, directory: str, data_dir: str, checkpoint_every: int) -> float:
    """In a worker process: one simulation, its progress and logs going to run.log."""
    import torch

    from signfed.progress import Progress

    torch.set_num_threads(1)  # one run per core; and the clients' count, for equal bits
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / "run.log", "a", encoding="utf-8") as out:
        handler = logging.StreamHandler(out)
        logging.getLogger().addHandler(handler)
        try:
            with contextlib.redirect_stdout(out):
                config = SimulationConfig(
                    run=run,
                    out_dir=directory,
                    data_dir=data_dir,
                    checkpoint_every=checkpoint_every,
                )
                summary = Simulation(config).run_all(Progress(run.rounds))
        finally:
            logging.getLogger().removeHandler(handler)
    return float(summary["wall_seconds"])


def run_batch_modes(config: BatchModesConfig) -> list[RunSpec]:
    """Run every unfinished run of the grid; returns the whole plan."""
    specs = plan_runs(config)
    todo = [s for s in specs if not is_finished(run_dir(config, s), s.run)]
    workers = min(config.workers, len(todo)) or 1
    print(
        f"signfed experiment batch-modes: {len(specs)} runs ({len(specs) - len(todo)} "
        f"already finished), {workers} at a time -> {config.out_dir}",
        flush=True,
    )
    if not todo:
        return specs
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(
                _run_one,
                spec.run,
                str(run_dir(config, spec)),
                config.data_dir,
                config.checkpoint_every,
            ): spec
            for spec in todo
        }
        pending = set(futures)
        done = 0
        while pending:
            finished, pending = wait(pending, PROGRESS_EVERY_S, FIRST_COMPLETED)
            if not finished:  # a long quiet stretch: say where the running runs are
                _show_running(config, [futures[f] for f in pending if f.running()])
            for future in finished:
                done += 1
                spec = futures[future]
                seconds = future.result()  # a failed run stops the experiment, loudly
                summary = json.loads((run_dir(config, spec) / "summary.json").read_text())
                print(
                    f"[{done}/{len(todo)}] {spec.name}: final accuracy "
                    f"{summary['final_accuracy']:.4f} in {seconds:.0f}s "
                    f"({time.perf_counter() - started:.0f}s since start)",
                    flush=True,
                )
    return specs


def _show_running(config: BatchModesConfig, running: list[RunSpec]) -> None:
    parts = []
    for spec in running:
        path = run_dir(config, spec) / "metrics.jsonl"
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            parts.append(f"{spec.name} {sum(1 for _ in f)}/{spec.run.rounds}")
    if parts:
        print("running: " + ", ".join(parts), flush=True)


def metrics_file(directory: Path) -> Path:
    """A run's per-round records: metrics.jsonl as a run writes it, else the gzipped
    metrics.jsonl.gz that docs/results commits (`gzip -9n`); the plain file wins."""
    plain = directory / "metrics.jsonl"
    packed = directory / "metrics.jsonl.gz"
    return packed if packed.exists() and not plain.exists() else plain


def records(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


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
            directory = run_dir(config, spec)
            if not is_finished(directory, spec.run):
                continue
            finished += 1
            key = {"dataset": config.dataset, "mode": spec.mode, "seed": spec.seed}
            for r in records(metrics_file(directory)):
                if "accuracy" not in r:
                    continue
                done = r["round"] + 1  # the evaluated model is x^{round + 1}
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
