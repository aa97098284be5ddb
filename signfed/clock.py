"""The asynchronous simulation's virtual clock: how long each client's update takes.

Client c's k-th update takes

    steps_c * step_seconds * f_c * exp(jitter * z_{c,k})      virtual seconds,

where steps_c is the local SGD steps it runs per update, f_c = exp(spread * z_c) its
own speed (lognormal across clients: some phones are slow), times `straggler_factor`
for the named straggler, and z_{c,k} a per-update wobble. Every z is drawn from a
generator seeded by (seed, CLOCK_KEY, c[, k]), so a run's timeline is a function of its
settings alone: two runs, or a run and its resumption, see the same arrivals. Compute
only: on the links this models (loopback, a LAN) the transfer of a 2.3 MB model is
milliseconds against seconds of training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.config_error import require
from common.flags import setting

CLOCK_KEY = 0x0C10C  # keeps the clock's draws apart from data shuffles and coins


@dataclass(frozen=True)
class ClockConfig:
    # measured here: one MNIST Net step at batch 64 on one core takes ~0.08 s
    step_seconds: float = setting(
        0.08, flag="--step-seconds", help="async simulation: virtual seconds per local step"
    )
    # sigma 0.5: the fastest of 15 clients about 3x the slowest, as phones differ
    speed_spread: float = setting(
        0.5, flag="--speed-spread", help="async simulation: lognormal sigma of client speeds"
    )
    jitter: float = setting(
        0.1, flag="--speed-jitter", help="async simulation: lognormal sigma per update"
    )
    straggler: int = setting(
        -1, flag="--straggler", help="async simulation: this client id is slower (-1: none)"
    )
    straggler_factor: float = setting(
        10.0, flag="--straggler-factor", help="async simulation: how much slower it is"
    )
    # A synchronous simulation on the same clock, to compare with an asynchronous one:
    # each round lasts as long as its slowest member, or closes at a deadline once a
    # quorum is in, as the server's --round-deadline and --quorum close a round.
    virtual_clock: bool = setting(
        False, flag="--virtual-clock", help="rounds: time them on the virtual clock"
    )
    virtual_deadline: float = setting(
        0.0,
        flag="--virtual-deadline",
        help="rounds on the virtual clock: close after this many seconds once a quorum "
        "is in; late members are left out (0: wait for all)",
    )
    virtual_quorum: float = setting(
        0.5, flag="--virtual-quorum", help="rounds on the virtual clock: the quorum fraction"
    )

    def __post_init__(self) -> None:
        require(self.step_seconds > 0, f"--step-seconds must be > 0, got {self.step_seconds}")
        require(self.speed_spread >= 0, f"--speed-spread must be >= 0, got {self.speed_spread}")
        require(self.jitter >= 0, f"--speed-jitter must be >= 0, got {self.jitter}")
        require(
            self.straggler >= -1, f"--straggler must be a client id or -1, got {self.straggler}"
        )
        require(
            self.straggler_factor >= 1,
            f"--straggler-factor must be >= 1, got {self.straggler_factor}",
        )
        require(
            self.virtual_deadline >= 0,
            f"--virtual-deadline must be >= 0, got {self.virtual_deadline}",
        )
        require(
            0 < self.virtual_quorum <= 1,
            f"--virtual-quorum must be in (0, 1], got {self.virtual_quorum}",
        )
        require(
            self.virtual_clock or not self.virtual_deadline,
            "--virtual-deadline times rounds on the virtual clock: add --virtual-clock",
        )


class VirtualClock:
    def __init__(self, config: ClockConfig, seed: int, steps: list[int]) -> None:
        """`steps`: the local steps of each client's update, by client id."""
        self.config = config
        self.seed = seed
        self.steps = steps
        self.speed = [self._factor(c) for c in range(len(steps))]

    def _factor(self, client: int) -> float:
        z = np.random.default_rng([self.seed, CLOCK_KEY, client]).standard_normal()
        factor = math.exp(self.config.speed_spread * float(z))
        return factor * (self.config.straggler_factor if client == self.config.straggler else 1)

    def duration(self, client: int, update: int) -> float:
        """Virtual seconds of client `client`'s update number `update`."""
        z = np.random.default_rng([self.seed, CLOCK_KEY, client, update]).standard_normal()
        wobble = math.exp(self.config.jitter * float(z))
        return self.steps[client] * self.config.step_seconds * self.speed[client] * wobble

    def round_close(self, clients: Sequence[int], round_index: int) -> tuple[float, list[int]]:
        """A synchronous round of `clients` (each running its update number round_index):
        (its length, the members in by its close). Without a deadline it waits for all;
        with one it closes at the later of the deadline and the quorum's arrival (or at
        the last arrival, if sooner), as the server's close rule does."""
        times = {c: self.duration(c, round_index) for c in clients}
        last = max(times.values())
        length = last
        if self.config.virtual_deadline:
            needed = max(1, math.ceil(self.config.virtual_quorum * len(clients) - 1e-9))
            quorum_in = sorted(times.values())[needed - 1]
            length = min(last, max(quorum_in, self.config.virtual_deadline))
        return length, [c for c in clients if times[c] <= length]
