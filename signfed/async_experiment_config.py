"""`signfed experiment async`' configuration, apart from the experiment (which imports
torch): its options are generated from these fields (common/flags.py).

A method is how the server meets clients of different speeds:
    sync                 FedAvg rounds that wait for every client (the straggler too)
    sync-deadline        FedAvg rounds that close at a deadline once a quorum is in
    fedasync-<s>         FedAsync with staleness function s (constant, polynomial, hinge)
    fedbuff              FedBuff, K updates per step
All on the same virtual clock (signfed/clock.py), so their times compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import PARTITIONS, require
from common.flags import setting
from common.staleness import STALENESS_FUNCTIONS
from signfed.grid_config import GridConfig, names_setting

METHODS = ("sync", "sync-deadline", *(f"fedasync-{s}" for s in STALENESS_FUNCTIONS), "fedbuff")


@dataclass(frozen=True)
class AsyncExperimentConfig(GridConfig):
    clients: int = setting(15, flag="--clients", help="clients per run")
    partitions: tuple[str, ...] = names_setting(
        ("iid", "dirichlet"), flag="--partitions", help="how data is split, one grid each"
    )
    dirichlet_alpha: float = setting(
        0.5, flag="--dirichlet-alpha", help="concentration of --partitions dirichlet"
    )
    methods: tuple[str, ...] = names_setting(
        METHODS, flag="--methods", help="sync, sync-deadline, fedasync-<staleness>, fedbuff"
    )
    # The compute budget: the synchronous runs' rounds; an asynchronous run receives
    # as many client updates (rounds x clients), so every method does the same work.
    rounds: int = setting(20, flag="--rounds", help="rounds of a sync run; async: x clients")
    local_epochs: int = setting(1, flag="--local-epochs", help="local epochs per update")
    lr: float = setting(0.05, flag="--lr", help="the clients' local SGD lr")
    batch_size: int = setting(64, flag="--batch-size", help="every client's batch size")
    # the seed documents' picture: one device far slower than the rest
    straggler: int = setting(0, flag="--straggler", help="the straggler's client id")
    straggler_factor: float = setting(
        10.0, flag="--straggler-factor", help="how much slower the straggler is"
    )
    speed_spread: float = setting(
        0.5, flag="--speed-spread", help="lognormal sigma of the other clients' speeds"
    )
    # A fixed deadline, as the server's --round-deadline: on MNIST a client's epoch is 63
    # steps of 0.08 s at the median speed, ~5 s; twice that leaves the slow tail out
    deadline: float = setting(
        10.0, flag="--deadline", help="sync-deadline: seconds after a round opens"
    )
    quorum: float = setting(0.8, flag="--quorum", help="sync-deadline: the quorum fraction")
    alpha: float = setting(0.6, flag="--async-alpha", help="fedasync: mixing weight alpha")
    # K = 5 of 15: a step about every third of a round's updates
    buffer_size: int = setting(5, flag="--buffer-size", help="fedbuff: updates per step")
    # one evaluation per round's worth of updates (the sync runs evaluate every round)
    eval_every: int = setting(
        15, flag="--eval-every", help="async runs: evaluate every this many updates"
    )
    target: float = setting(0.97, flag="--target", help="accuracy whose time the report reads")
    out_dir: str = setting("runs/async", flag="--out", help="where the CSVs, table and figures go")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.clients >= 2, f"--clients must be >= 2, got {self.clients}")
        for flag, names, known in (
            ("--partitions", self.partitions, PARTITIONS),
            ("--methods", self.methods, METHODS),
        ):
            bad = [n for n in names if n not in known]
            require(
                bool(names) and not bad,
                f"{flag}: unknown {bad}; choose from {', '.join(known)}",
            )
        for flag, value in (
            ("--rounds", self.rounds),
            ("--local-epochs", self.local_epochs),
            ("--batch-size", self.batch_size),
            ("--buffer-size", self.buffer_size),
            ("--eval-every", self.eval_every),
        ):
            require(value >= 1, f"{flag} must be >= 1, got {value}")
        require(
            0 <= self.straggler < self.clients,
            f"--straggler must be a client id in [0, {self.clients}), got {self.straggler}",
        )
        require(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        require(self.deadline > 0, f"--deadline must be > 0, got {self.deadline}")
        require(0 < self.quorum <= 1, f"--quorum must be in (0, 1], got {self.quorum}")
        require(0 < self.alpha <= 1, f"--async-alpha must be in (0, 1], got {self.alpha}")
        require(0 < self.target < 1, f"--target must be in (0, 1), got {self.target}")
