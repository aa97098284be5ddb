"""`signfed simulate`'s configuration, apart from the simulation (which imports torch):
the CLI generates its options from these fields (common/flags.py) for every command."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from common.async_config import AsyncConfig, check_async_run
from common.attack_config import AttackConfig
from common.config import RunConfig, WireConfig, require
from common.flags import setting
from common.split_config import SPLIT, SplitConfig, check_split_run
from signfed.clock import ClockConfig
from signfed.pool_config import PoolConfig


@dataclass(frozen=True)
class SimulationConfig:
    run: RunConfig = field(default_factory=RunConfig)
    out_dir: str = setting(
        "runs/simulate", flag="--out", help="run directory: metrics, summary, checkpoint"
    )
    data_dir: str = setting(
        "data", flag="--data-dir", help="where datasets live (see `signfed fetch`)"
    )
    # 1, as a client's default: conv kernels reduce in another order with more threads,
    # and bit-identity with the networked run needs the clients' gradients exactly.
    threads: int = setting(
        1,
        flag="--threads",
        help="torch threads; keep the clients' count (1) for bits equal to a networked run",
    )
    checkpoint_every: int = setting(  # rounds between checkpoints; 0 writes none
        100,
        flag="--checkpoint-every",
        help="write a checkpoint every this many rounds (0: never); a rerun with the same "
        "--out and settings resumes from it",
    )
    wire: WireConfig = field(default_factory=WireConfig)  # only for counting bytes
    # which clients attack and how (common/attacks.py); the ids are seeded by --seed
    attack: AttackConfig = field(default_factory=AttackConfig)
    # --async: clients at their own pace on a virtual clock (signfed/async_simulation.py)
    asynchrony: AsyncConfig = field(default_factory=AsyncConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)  # where the clients train
    # another async run's order of arrivals instead of the clock's (signfed/async_replay.py)
    replay: str = setting(
        "",
        flag="--replay",
        help="async: receive the updates in the order this metrics.jsonl records "
        "(a networked run's, or another simulation's)",
    )

    def __post_init__(self) -> None:
        require(
            self.attack.attackers <= self.run.num_clients,
            f"--attackers {self.attack.attackers} exceeds --clients {self.run.num_clients}",
        )
        require(self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        require(
            self.checkpoint_every >= 0,
            f"--checkpoint-every must be >= 0, got {self.checkpoint_every}",
        )
        if self.asynchrony.enabled:
            self._check_async()
        check_split_run(self.split, self.run)
        if self.split_run:
            require(
                not self.asynchrony.enabled
                and self.attack.attack == "none"
                and not self.clock.virtual_clock,
                "--algorithm split runs without --async, --attack or --virtual-clock (yet)",
            )
        require(
            self.pool.backend == "inprocess" or not (self.asynchrony.enabled or self.split_run),
            f"--backend {self.pool.backend} runs synchronous rounds: not with --async or "
            "--algorithm split (yet)",
        )
        require(
            self.asynchrony.enabled or not self.replay,
            "--replay replays an asynchronous run: add --async fedasync or fedbuff",
        )

    @property
    def split_run(self) -> bool:
        return self.run.aggregator.algorithm == SPLIT

    def timing_record(self) -> dict[str, Any]:
        """summary.json's "asynchrony" and "clock": the settings that shape a run beside
        its RunConfig (None where unused), so a grid tells its runs apart by them."""
        timed = self.asynchrony.enabled or self.clock.virtual_clock
        return {
            "asynchrony": asdict(self.asynchrony) if self.asynchrony.enabled else None,
            "clock": asdict(self.clock) if timed else None,
        }

    def _check_async(self) -> None:
        run, mode = self.run, self.asynchrony.mode
        check_async_run(self.asynchrony, run)
        require(self.attack.attack == "none", f"--async {mode} runs without --attack (yet)")
        require(
            self.clock.straggler < run.num_clients,
            f"--straggler {self.clock.straggler} is not a client id of --clients {run.num_clients}",
        )
