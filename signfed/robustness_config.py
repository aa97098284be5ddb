"""`signfed experiment robustness`' configuration, apart from the experiment (which
imports torch): its options are generated from these fields (common/flags.py).

A defence is what the server does with the rows: "fedavg" is FedAvg with the plain
mean (--algorithm fedavg --rule mean, the undefended reference), every other robust
rule of common/robust runs as FedAvg with that --rule (median, krum, ...), and every
sign algorithm of common/algorithms (mv, llr, fd) is a defence of its own. The names
come from those two registries.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.algorithms import available, get_algorithm
from common.attacks import ATTACKS
from common.config import PARTITIONS, require
from common.flags import int_tuple, joined, setting
from common.robust import available as available_rules
from signfed.grid_config import GridConfig, names_setting

FLOAT_DEFENCES = ("fedavg", *(r for r in available_rules() if r != "mean"))
SIGN_DEFENCES = tuple(a for a in available() if not get_algorithm(a).float_rows)
DEFENCES = FLOAT_DEFENCES + SIGN_DEFENCES
GRID_ATTACKS = tuple(a for a in ATTACKS if a != "none")  # "none" is attackers 0
# every rule against the sign algorithms, FedAvg's mean first: the undefended reference
DEFAULT_DEFENCES = ("fedavg", "median", "trimmed-mean", "median-of-means", "geometric-median",
                    "krum", "mv", "llr", "fd")  # fmt: skip


def aggregation_of(defence: str) -> tuple[str, str]:
    """(--algorithm, --rule) of a defence."""
    if defence in SIGN_DEFENCES:
        return defence, "mean"  # signs have no --rule
    return "fedavg", "mean" if defence == "fedavg" else defence


def is_sign(defence: str) -> bool:
    return defence in SIGN_DEFENCES


@dataclass(frozen=True)
class RobustnessConfig(GridConfig):
    clients: int = setting(15, flag="--clients", help="clients per run, all in every round")
    partitions: tuple[str, ...] = names_setting(
        ("iid", "dirichlet"), flag="--partitions", help="how data is split, one grid each"
    )
    dirichlet_alpha: float = setting(  # 0.5: clearly skewed labels, yet every class seen
        0.5, flag="--dirichlet-alpha", help="concentration of --partitions dirichlet"
    )
    # 0: the no-attack reference (one run per defence); 3 and 6 of 15: a fifth and 40%
    attackers: tuple[int, ...] = setting(
        (0, 3, 6), flag="--attackers", help="attacker counts F", parse=int_tuple, show=joined
    )
    attacks: tuple[str, ...] = names_setting(
        GRID_ATTACKS, flag="--attacks", help="attacks run with every F > 0 (common/attacks.py)"
    )
    defences: tuple[str, ...] = names_setting(
        DEFAULT_DEFENCES,
        flag="--defences",
        help="fedavg (the plain mean), a robust --rule of fedavg, or a sign algorithm",
    )
    # negate's own default (s = 1) only inverts the signs: -4x outweighs the honest mean
    negate_scale: float = setting(
        4.0, flag="--negate-scale", help="negate sends -s x its update; other attacks: defaults"
    )
    # ---- float defences: FedAvg, one local epoch of SGD per round ----------------------
    float_rounds: int = setting(30, flag="--float-rounds", help="rounds of a fedavg run")
    local_epochs: int = setting(1, flag="--local-epochs", help="fedavg: local epochs per round")
    local_steps: int = setting(
        0, flag="--local-steps", help="fedavg: local steps per round instead of epochs (0: epochs)"
    )
    float_lr: float = setting(0.05, flag="--float-lr", help="fedavg: the clients' local SGD lr")
    batch_size: int = setting(64, flag="--batch-size", help="every client's batch size")
    # ---- sign defences: one signed minibatch gradient per round, many more rounds ------
    sign_rounds: int = setting(300, flag="--sign-rounds", help="rounds of a sign run")
    sign_lr: float = setting(1e-3, flag="--sign-lr", help="sign runs: x <- x - lr * sign")
    warmup_rounds: int = setting(
        50, flag="--warmup-rounds", help="sign runs (llr, fd): plain majority for T_in rounds"
    )
    # every round: "accuracy by round 20" needs the round; a sign round is cheap, and
    # its accuracy swings, so every 25th (12 evaluations, 4 in the tail)
    eval_every_float: int = setting(
        1, flag="--eval-every-float", help="fedavg runs: evaluate every this many rounds"
    )
    eval_every_sign: int = setting(
        25, flag="--eval-every-sign", help="sign runs: evaluate every this many rounds"
    )
    # A float run checkpoints every 10 of its 30 rounds (each round is a local epoch per
    # client); a sign run at the same fractions of its run, every 10 * 300 / 30 = 100.
    checkpoint_every: int = setting(
        10,
        flag="--checkpoint-every",
        help="fedavg runs: rounds between checkpoints; sign runs checkpoint at the same "
        "fractions of their rounds",
    )
    out_dir: str = setting(
        "runs/robustness", flag="--out", help="where the CSVs, table and figures go"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.clients >= 1, f"--clients must be >= 1, got {self.clients}")
        _among("--partitions", self.partitions, PARTITIONS)
        require(
            self.dirichlet_alpha > 0, f"--dirichlet-alpha must be > 0, got {self.dirichlet_alpha}"
        )
        _among("--attacks", self.attacks, GRID_ATTACKS)
        _among("--defences", self.defences, DEFENCES)
        bad = [f for f in self.attackers if not 0 <= f <= self.clients]
        require(
            bool(self.attackers) and not bad and len(set(self.attackers)) == len(self.attackers),
            f"--attackers must be distinct counts in [0, --clients {self.clients}], "
            f"got {list(self.attackers)}",
        )
        require(self.negate_scale > 0, f"--negate-scale must be > 0, got {self.negate_scale}")
        for flag, value in (
            ("--float-rounds", self.float_rounds),
            ("--sign-rounds", self.sign_rounds),
            ("--local-epochs", self.local_epochs),
            ("--batch-size", self.batch_size),
            ("--eval-every-float", self.eval_every_float),
            ("--eval-every-sign", self.eval_every_sign),
        ):
            require(value >= 1, f"{flag} must be >= 1, got {value}")
        require(self.local_steps >= 0, f"--local-steps must be >= 0, got {self.local_steps}")
        require(self.float_lr > 0, f"--float-lr must be > 0, got {self.float_lr}")
        require(self.sign_lr > 0, f"--sign-lr must be > 0, got {self.sign_lr}")
        require(self.warmup_rounds >= 0, f"--warmup-rounds must be >= 0, got {self.warmup_rounds}")
        require(
            self.checkpoint_every >= 0,
            f"--checkpoint-every must be >= 0, got {self.checkpoint_every}",
        )

    def sign_checkpoint_every(self) -> int:
        """A sign run's checkpoint interval: the float runs' share of the run (0: none)."""
        if not self.checkpoint_every:
            return 0
        return max(1, self.checkpoint_every * self.sign_rounds // self.float_rounds)


def _among(flag: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    bad = [v for v in values if v not in allowed]
    require(
        bool(values) and not bad and len(set(values)) == len(values),
        f"{flag} must be distinct names among {', '.join(allowed)}, got {list(values)}",
    )
