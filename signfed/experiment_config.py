"""`signfed experiment batch-modes`' configuration, apart from the experiment (which
imports torch): its options are generated from these fields (common/flags.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.algorithms import available
from common.batch_plan import BATCH_MODES
from common.config import ABSTENTIONS, ZEROS, require
from common.flags import int_tuple, joined, setting, word_tuple
from common.schedule import LR_SCHEDULES
from signfed.grid_config import GridConfig

ALGORITHMS = available()  # any registered algorithm (common/algorithms) may run
PAPER_ALGORITHMS = ("llr", "mv", "sgd")  # the paper's Figure 1: its default


@dataclass(frozen=True)
class BatchModesConfig(GridConfig):
    rounds: int = setting(1000, flag="--rounds", help="rounds per run (the paper: 3000)")
    modes: tuple[int, ...] = setting(
        (1, 2, 3, 4), flag="--modes", help="batch modes to run", parse=int_tuple, show=joined
    )
    algorithms: tuple[str, ...] = setting(
        PAPER_ALGORITHMS,
        flag="--algorithms",
        help="algorithms to run",
        parse=word_tuple,
        show=joined,
    )
    # coin: the paper's setting as signfed ran it so far; abstain: the authors' zeros
    zeros: tuple[str, ...] = setting(
        ("coin",),
        flag="--zeros",
        help="sign algorithms' exact zeros: coin, abstain or both (coin,abstain)",
        parse=word_tuple,
        show=joined,
    )
    # llr's counter with abstaining zeros: the authors' (disagree) or only voted rounds
    abstentions: str = setting(
        "disagree",
        flag="--abstentions",
        help="llr with --zeros abstain: disagree (the authors' counter) or skip",
        choices=ABSTENTIONS,
    )
    out_dir: str = setting(
        "runs/batch-modes", flag="--out", help="where the CSVs, table and figures go"
    )
    # Test accuracy swings between evaluations: sample it often.
    eval_every: int = setting(50, flag="--eval-every", help="evaluate every this many rounds")
    lr: float = setting(1e-3, flag="--lr", help="lr of llr and mv (the paper's)")
    # sgd steps by lr * g, not lr * sign(g): the gradient's scale is ~1e-3 of a sign's,
    # so it needs its own lr to be the upper reference rather than a stalled baseline.
    sgd_lr: float = setting(
        0.1, flag="--sgd-lr", help="lr of the float32 sgd baseline (steps by lr * g)"
    )
    lr_schedule: str = setting(  # the paper's constant; step/cosine as an extra experiment
        "constant", flag="--lr-schedule", help="lr over each run", choices=LR_SCHEDULES
    )
    warmup_rounds: int = setting(
        100, flag="--warmup-rounds", help="llr: plain majority for the first T_in rounds"
    )
    checkpoint_every: int = setting(
        100, flag="--checkpoint-every", help="rounds between a run's checkpoints"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.rounds >= 1, f"--rounds must be >= 1, got {self.rounds}")
        require(bool(self.modes), "--modes must name at least one mode")
        bad = [m for m in self.modes if m not in BATCH_MODES]
        require(not bad, f"--modes must be among {sorted(BATCH_MODES)}, got {bad}")
        bad_algorithms = [a for a in self.algorithms if a not in ALGORITHMS]
        require(
            bool(self.algorithms) and not bad_algorithms,
            f"--algorithms must be among {ALGORITHMS}, got {list(self.algorithms)}",
        )
        bad_zeros = [z for z in self.zeros if z not in ZEROS]
        require(
            bool(self.zeros) and not bad_zeros,
            f"--zeros must be among {ZEROS}, got {list(self.zeros)}",
        )
        require(self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}")
        require(self.sgd_lr > 0, f"--sgd-lr must be > 0, got {self.sgd_lr}")
        require(
            self.lr_schedule in LR_SCHEDULES,
            f"--lr-schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}",
        )
