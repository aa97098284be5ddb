"""`signfed simulate`'s configuration, apart from the simulation (which imports torch):
the CLI generates its options from these fields (common/flags.py) for every command."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.attack_config import AttackConfig
from common.config import RunConfig, WireConfig, require
from common.flags import setting


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
