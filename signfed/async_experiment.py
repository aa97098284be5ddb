"""`signfed experiment async`: synchronous FedAvg (waiting for everyone, or closing at a
deadline) against FedAsync and FedBuff, with one straggler 10x slower and lognormal
speeds for the rest, all on one virtual clock; a resumable grid (signfed/grid.py).

Every run lives in RUNS/<partition>-<method>-seed<s>/ (RUNS defaults to OUT/runs);
signfed/async_report.py gathers the finished ones. Every method does the same work: a
sync run of R rounds trains R x M local epochs, an asynchronous run receives R x M
updates of one local epoch each (the deadline's erased members' work is lost, as it is
on a real server).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from common.async_config import AsyncConfig
from common.config import AggregatorConfig, RunConfig
from signfed.async_experiment_config import AsyncExperimentConfig
from signfed.clock import ClockConfig
from signfed.grid import GridRun, run_grid
from signfed.simulation_config import SimulationConfig

STEP_SECONDS = ClockConfig().step_seconds  # one MNIST Net step at batch 64, measured


@dataclass(frozen=True)
class AsyncRunSpec(GridRun):
    partition: str
    method: str

    @property
    def asynchronous(self) -> bool:
        return self.simulation.asynchrony.enabled


def plan_runs(config: AsyncExperimentConfig) -> list[AsyncRunSpec]:
    """Every run, seed-major, then partition, then method."""
    specs = []
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    for seed, partition, method in itertools.product(seeds, config.partitions, config.methods):
        name = f"{partition}-{method}-seed{seed}"
        simulation = _simulation(config, partition, method, seed, name)
        specs.append(
            AsyncRunSpec(
                name=name, seed=seed, simulation=simulation, partition=partition, method=method
            )
        )
    return specs


def _simulation(
    config: AsyncExperimentConfig, partition: str, method: str, seed: int, name: str
) -> SimulationConfig:
    asynchronous = not method.startswith("sync")
    run = RunConfig(
        dataset=config.dataset,
        num_clients=config.clients,
        seed=seed,
        partition=partition,
        batch_sizes=(config.batch_size,) * config.clients,
        rounds=config.rounds * config.clients if asynchronous else config.rounds,
        learning_rate=config.lr,
        eval_every=config.eval_every if asynchronous else 1,
        local_epochs=config.local_epochs,
        aggregator=AggregatorConfig(algorithm="fedavg", seed=seed),
    )
    if partition == "dirichlet":
        run = replace(run, dirichlet_alpha=config.dirichlet_alpha)
    clock = ClockConfig(
        step_seconds=STEP_SECONDS,
        speed_spread=config.speed_spread,
        straggler=config.straggler,
        straggler_factor=config.straggler_factor,
        virtual_clock=not asynchronous,
    )
    if method == "sync-deadline":
        clock = replace(clock, virtual_deadline=config.deadline, virtual_quorum=config.quorum)
    asynchrony = AsyncConfig()
    if method == "fedbuff":
        asynchrony = AsyncConfig(mode="fedbuff", buffer_size=config.buffer_size)
    elif asynchronous:
        staleness = method.removeprefix("fedasync-")
        asynchrony = AsyncConfig(mode="fedasync", alpha=config.alpha, staleness=staleness)
    return SimulationConfig(
        run=run,
        out_dir=str(config.runs_path() / name),
        data_dir=config.data_dir,
        threads=1,  # one run per core
        checkpoint_every=5 * config.clients if asynchronous else 5,  # every 5 rounds' work
        asynchrony=asynchrony,
        clock=clock,
    )


def run_async_experiment(config: AsyncExperimentConfig) -> list[AsyncRunSpec]:
    """Run every unfinished run; returns the whole plan."""
    specs = plan_runs(config)
    simulations = {spec.name: spec.simulation for spec in specs}
    run_grid("async", simulations, workers=config.workers, out_dir=config.out_dir)
    return specs
