"""Which clients attack and how (common/attacks.py): a client's, the local cluster's
and the simulation's setting. Not a run setting: the server is never told who attacks."""

from __future__ import annotations

from dataclasses import dataclass

from common.attacks import ATTACKS, COLLUDING
from common.config_error import require
from common.flags import setting


@dataclass(frozen=True)
class AttackConfig:
    attack: str = setting(
        "none",
        flag="--attack",
        help="what the attacking clients send: none, negate (-s*u), random (random signs), "
        "gauss (N(0,s^2)), labelflip, alie (a little is enough), ipm (-s*mean)",
        choices=ATTACKS,
    )
    # F of the M ids attack, drawn by a sampler seeded by --seed: a client started with
    # --attack attacks only when its id is among them (so replicas of one compose
    # service, all started alike, make F attackers)
    attackers: int = setting(
        0, flag="--attackers", help="how many of the --clients ids attack (seeded choice)"
    )
    # 0: the attack's default (negate 1, gauss 1, ipm 0.1; alie's z from M and F)
    attack_scale: float = setting(
        0.0, flag="--attack-scale", help="the attack's strength s (0: its default)"
    )

    def __post_init__(self) -> None:
        require(self.attack in ATTACKS, f"--attack must be one of {', '.join(ATTACKS)}")
        require(self.attackers >= 0, f"--attackers must be >= 0, got {self.attackers}")
        require(self.attack_scale >= 0, f"--attack-scale must be >= 0, got {self.attack_scale}")
        require(
            (self.attack == "none") == (self.attackers == 0),
            "--attack and --attackers go together: name the attack and how many attack",
        )

    @property
    def colluding(self) -> bool:
        """Whether attackers need their colluders' honest updates (alie, ipm)."""
        return self.attack in COLLUDING
