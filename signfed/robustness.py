"""`signfed experiment robustness`: Byzantine-robust rules and sign-domain defences
under attack, a resumable grid of simulated runs on every core.

seeds x partitions x attacker counts x attacks x defences, each an in-process
simulation (signfed/grid.py runs them; a finished run is never recomputed, an
interrupted one resumes). With 0 attackers there is no attack: one run per (seed,
partition, defence), attack "none". Every run lives in
RUNS/<partition>-f<F>-<attack>-<defence>-seed<s>/ (RUNS defaults to OUT/runs), e.g.
iid-f3-negate-median-seed0. The report (signfed/robustness_report.py) gathers the
finished ones.

Float defences (FedAvg with a --rule) and sign defences (mv, llr, fd) train
differently: a FedAvg round is a local epoch per client, a sign round one signed
minibatch gradient; so they run their own round counts and lrs, each at a budget at
which it has converged under no attack.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from common.attack_config import AttackConfig
from common.config import AggregatorConfig, RunConfig
from signfed.grid import GridRun, run_grid
from signfed.robustness_config import RobustnessConfig, aggregation_of, is_sign
from signfed.simulation_config import SimulationConfig

NO_ATTACK = "none"


@dataclass(frozen=True)
class RunSpec(GridRun):  # its simulation holds the run, the attack and its directory
    partition: str
    attackers: int
    attack: str  # "none" with 0 attackers
    defence: str

    @property
    def sign(self) -> bool:
        return is_sign(self.defence)


def plan_runs(config: RobustnessConfig) -> list[RunSpec]:
    """Every run of the grid, seed-major, then partition, attackers, attack, defence: an
    early stop leaves whole slices finished."""
    specs = []
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    for seed, partition, attackers in itertools.product(seeds, config.partitions, config.attackers):
        attacks = config.attacks if attackers else (NO_ATTACK,)
        for attack, defence in itertools.product(attacks, config.defences):
            name = f"{partition}-f{attackers}-{attack}-{defence}-seed{seed}"
            simulation = SimulationConfig(
                run=run_config(config, defence, partition, seed),
                out_dir=str(config.runs_path() / name),
                data_dir=config.data_dir,
                threads=1,  # one run per core; and the clients' count, for equal bits
                checkpoint_every=(
                    config.sign_checkpoint_every() if is_sign(defence) else config.checkpoint_every
                ),
                attack=AttackConfig(
                    attack=attack,
                    attackers=attackers,
                    attack_scale=config.negate_scale if attack == "negate" else 0.0,
                ),
            )
            specs.append(
                RunSpec(
                    name=name,
                    seed=seed,
                    simulation=simulation,
                    partition=partition,
                    attackers=attackers,
                    attack=attack,
                    defence=defence,
                )  # fmt: skip
            )
    return specs


def run_config(config: RobustnessConfig, defence: str, partition: str, seed: int) -> RunConfig:
    """One run's settings. A setting a run does not use keeps its default (sign runs take
    no local epochs, fedavg no warm-up, iid shards no alpha), so that changing it leaves
    those runs finished."""
    algorithm, rule = aggregation_of(defence)
    base = RunConfig(
        dataset=config.dataset,
        num_clients=config.clients,
        seed=seed,
        partition=partition,
        batch_sizes=(config.batch_size,) * config.clients,
    )
    if partition == "dirichlet":
        base = replace(base, dirichlet_alpha=config.dirichlet_alpha)
    if is_sign(defence):
        return replace(
            base,
            rounds=config.sign_rounds,
            learning_rate=config.sign_lr,
            eval_every=config.eval_every_sign,
            aggregator=AggregatorConfig(
                algorithm=algorithm, warmup_rounds=config.warmup_rounds, seed=seed
            ),
        )
    return replace(
        base,
        rounds=config.float_rounds,
        learning_rate=config.float_lr,
        eval_every=config.eval_every_float,
        local_epochs=config.local_epochs,
        local_steps=config.local_steps,
        aggregator=AggregatorConfig(algorithm=algorithm, rule=rule, seed=seed),
    )


def run_robustness(config: RobustnessConfig) -> list[RunSpec]:
    """Run every unfinished run of the grid; returns the whole plan."""
    specs = plan_runs(config)
    simulations = {spec.name: spec.simulation for spec in specs}
    run_grid("robustness", simulations, workers=config.workers, out_dir=config.out_dir)
    return specs
