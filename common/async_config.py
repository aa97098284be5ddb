"""Asynchronous training (common/staleness.py): how the server applies an update the
moment it arrives. A server setting and the simulation's; clients learn only the mode
(RunSettings.async_mode: whether they send their model or their delta), then train from
each model they receive and send their result tagged with its version."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import RunConfig
from common.config_error import require
from common.flags import setting
from common.staleness import STALENESS_FUNCTIONS

ASYNC_MODES = ("off", "fedasync", "fedbuff")


@dataclass(frozen=True)
class AsyncConfig:
    mode: str = setting(
        "off",
        flag="--async",
        help="asynchronous training: off (rounds), fedasync (mix each update in as it "
        "arrives), fedbuff (step once K updates are buffered)",
        choices=ASYNC_MODES,
    )
    # Xie et al. try 0.1 .. 0.9; 0.6 is among their best on CIFAR-10 and MNIST-like tasks
    alpha: float = setting(0.6, flag="--async-alpha", help="fedasync: mixing weight alpha")
    staleness: str = setting(
        "polynomial",
        flag="--staleness",
        help="fedasync: s(t - tau), constant, polynomial (t - tau + 1)^-a, hinge (a, b)",
        choices=STALENESS_FUNCTIONS,
    )
    # Xie et al.'s settings: polynomial a = 0.5; hinge a = 10, b = 4
    staleness_a: float = setting(0.5, flag="--staleness-a", help="fedasync: the a of s()")
    staleness_b: int = setting(4, flag="--staleness-b", help="fedasync: hinge's b")
    # Nguyen et al. find K = 10 a good default across their tasks
    buffer_size: int = setting(10, flag="--buffer-size", help="fedbuff: K updates per step")
    # Nguyen et al. scale each delta by 1/sqrt(1 + staleness); this switch turns it off
    buffer_plain: bool = setting(
        False,
        flag="--buffer-plain",
        help="fedbuff: a plain mean, without the 1/sqrt(1 + staleness) scaling",
    )
    # 0: any age counts (discounted by s); a bound keeps wildly old models out
    max_staleness: int = setting(
        0,
        flag="--max-staleness",
        help="reject updates more than this many versions old (0: no limit)",
    )

    def __post_init__(self) -> None:
        require(self.mode in ASYNC_MODES, f"--async must be one of {', '.join(ASYNC_MODES)}")
        require(0 < self.alpha <= 1, f"--async-alpha must be in (0, 1], got {self.alpha}")
        require(
            self.staleness in STALENESS_FUNCTIONS,
            f"--staleness must be one of {', '.join(STALENESS_FUNCTIONS)}",
        )
        require(self.staleness_a >= 0, f"--staleness-a must be >= 0, got {self.staleness_a}")
        require(self.staleness_b >= 0, f"--staleness-b must be >= 0, got {self.staleness_b}")
        require(self.buffer_size >= 1, f"--buffer-size must be >= 1, got {self.buffer_size}")
        require(self.max_staleness >= 0, f"--max-staleness must be >= 0, got {self.max_staleness}")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def too_stale(self, staleness: int) -> bool:
        return self.max_staleness > 0 and staleness > self.max_staleness


def check_async_run(asynchrony: AsyncConfig, run: RunConfig) -> None:
    """ConfigError unless `run` can train asynchronously: local training, float32
    models or deltas, every client at its own pace, no rounds to schedule by."""
    if not asynchrony.enabled:
        return
    mode = asynchrony.mode
    require(
        run.aggregator.algorithm == "fedavg",
        f"--async {mode} trains locally: it needs --algorithm fedavg, "
        f"got {run.aggregator.algorithm}",
    )
    require(
        run.update_encoding in ("", "float32"),
        f"--async {mode} sends float32 models or deltas; drop --update-encoding",
    )
    require(
        run.clients_per_round == 0,
        f"--async {mode}: every client trains at its own pace; drop --clients-per-round",
    )
    require(
        run.lr_schedule == "constant",
        f"--async {mode} has no rounds to schedule the lr by; use --lr-schedule constant",
    )
