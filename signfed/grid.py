"""Grids of simulated runs, resumable, on every core: what every `signfed experiment`
grid shares (batch-modes: signfed/experiment.py; robustness: signfed/robustness.py).

A grid is a list of named simulations, each with its own run directory (its out_dir).
`run_grid` runs those not finished, one per worker process (each with one torch thread,
so its bits match a networked run's), and says how they go. A finished run (its
summary.json, written at the end of a clean run) is never recomputed; an interrupted
one resumes from its last checkpoint; a run directory made with other settings (the
run's or the attack's) is an error, not silently reused. Two grids started on the same
runs directory share the work: a run holds a lock on its directory while it runs, and a
worker that finds it held, or the run finished meanwhile, skips it. The reports read the
runs' per-round records here, from metrics.jsonl or the gzipped copy docs/results commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from common.config import ConfigError, RunConfig, config_json, run_config_from_json
from signfed.simulation_config import SimulationConfig

PROGRESS_EVERY_S = 60.0  # between "running: ..." lines while no run finishes


@dataclass(frozen=True)
class GridRun:
    """One run of a grid: its name (its folder's), seed and simulation, whose out_dir is
    the run's directory. Each grid's run adds the coordinates it is planned by."""

    name: str
    seed: int
    simulation: SimulationConfig

    @property
    def run(self) -> RunConfig:
        return self.simulation.run

    @property
    def directory(self) -> Path:
        return Path(self.simulation.out_dir)


def is_finished(simulation: SimulationConfig) -> bool:
    """A summary of this very run and attack in its directory, from a clean end.
    ConfigError when the directory holds a run with other settings."""
    directory = Path(simulation.out_dir)
    path = directory / "summary.json"
    if not path.exists():
        return False
    summary = json.loads(path.read_text(encoding="utf-8"))
    run = simulation.run
    # through RunConfig: a setting added since the run was made reads as its default
    same_run = config_json(run_config_from_json(summary.get("config") or {})) == config_json(run)
    timing = simulation.timing_record()  # absent from summaries older than it: None
    same_timing = all(summary.get(key) == value for key, value in timing.items())
    if not same_run or not same_timing or _attack_of(summary) != _attack_record(simulation):
        raise ConfigError(
            f"{directory} holds a run with other settings; use another --out or delete it"
        )
    return summary.get("error") is None and summary.get("rounds") == run.rounds


def _attack_record(simulation: SimulationConfig) -> dict[str, Any] | None:
    """summary.json's "attack" (signfed/simulation.py) but the ids, which the seed fixes."""
    attack = simulation.attack
    return None if attack.attack == "none" else asdict(attack)


def _attack_of(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    recorded = summary.get("attack")  # absent in summaries written before attacks
    return None if recorded is None else {k: v for k, v in recorded.items() if k != "ids"}


@contextlib.contextmanager
def run_lock(directory: Path) -> Iterator[bool]:
    """Hold an exclusive lock on a run's directory: yields False at once when another
    process holds it. flock on the directory itself: no lock file left in what
    docs/results copies, and the kernel drops the lock with a killed process."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _run_one(simulation: SimulationConfig) -> float | str:
    """In a worker process: one simulation, its progress and logs going to run.log.
    Its wall seconds, or why it was skipped (a string)."""
    directory = Path(simulation.out_dir)
    with run_lock(directory) as mine:
        if not mine:
            return "skipped: another process is running it"
        if is_finished(simulation):  # by another grid since this one made its list
            return "skipped: finished by another process"
        return _simulate(simulation, directory)


def _simulate(simulation: SimulationConfig, directory: Path) -> float:
    import torch

    from signfed.async_simulation import AsyncSimulation
    from signfed.progress import Progress
    from signfed.simulation import Simulation

    torch.set_num_threads(simulation.threads)  # one run per core, and equal bits
    runner = AsyncSimulation if simulation.asynchrony.enabled else Simulation
    with open(directory / "run.log", "a", encoding="utf-8") as out:
        handler = logging.StreamHandler(out)
        logging.getLogger().addHandler(handler)
        try:
            with contextlib.redirect_stdout(out):
                summary = runner(simulation).run_all(Progress(simulation.run.rounds))
        finally:
            logging.getLogger().removeHandler(handler)
    return float(summary["wall_seconds"])


def run_grid(
    command: str, simulations: Mapping[str, SimulationConfig], *, workers: int, out_dir: str
) -> None:
    """Run every unfinished simulation of a grid (by run name, in the order given: an
    early stop leaves the first ones finished), `workers` at a time. A failed run stops
    the grid with its exception."""
    todo = {name: s for name, s in simulations.items() if not is_finished(s)}
    workers = min(workers, len(todo)) or 1
    print(
        f"signfed experiment {command}: {len(simulations)} runs ({len(simulations) - len(todo)} "
        f"already finished), {workers} at a time -> {out_dir}",
        flush=True,
    )
    if not todo:
        return
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, simulation): name for name, simulation in todo.items()}
        pending = set(futures)
        done = 0
        while pending:
            finished, pending = wait(pending, PROGRESS_EVERY_S, FIRST_COMPLETED)
            if not finished:  # a long quiet stretch: say where the running runs are
                _show_running({futures[f]: todo[futures[f]] for f in pending if f.running()})
            for future in finished:
                done += 1
                name = futures[future]
                seconds = future.result()  # a failed run stops the experiment, loudly
                if isinstance(seconds, str):
                    print(f"[{done}/{len(todo)}] {name}: {seconds}", flush=True)
                    continue
                path = Path(todo[name].out_dir) / "summary.json"
                accuracy = json.loads(path.read_text(encoding="utf-8"))["final_accuracy"]
                print(
                    f"[{done}/{len(todo)}] {name}: final accuracy {accuracy:.4f} in "
                    f"{seconds:.0f}s ({time.perf_counter() - started:.0f}s since start)",
                    flush=True,
                )


def _show_running(running: Mapping[str, SimulationConfig]) -> None:
    parts = []
    for name, simulation in running.items():
        path = Path(simulation.out_dir) / "metrics.jsonl"
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            parts.append(f"{name} {sum(1 for _ in f)}/{simulation.run.rounds}")
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


def evaluations(directory: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rounds done, record) for each evaluation of a run: the model evaluated after
    round t is x^{t+1}, so its round is t + 1, as the progress lines count."""
    for record in records(metrics_file(directory)):
        if "accuracy" in record:
            yield record["round"] + 1, record
