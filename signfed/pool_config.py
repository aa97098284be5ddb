"""Where `signfed simulate` runs its clients (signfed/client_pool.py): the settings of
the backend. Every backend computes the same updates, bit for bit; they differ in how
many cores and machines do it."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import require
from common.flags import setting

BACKENDS = ("inprocess", "process", "ray")


@dataclass(frozen=True)
class PoolConfig:
    backend: str = setting(
        "inprocess",
        flag="--backend",
        help="where the clients train: inprocess (one after another), process (a pool of "
        "worker processes), ray (actors on a Ray cluster; pip install signfed[ray])",
        choices=BACKENDS,
    )
    # 0: one worker per core (process) or per CPU the Ray cluster offers (ray), as CollA
    # puts one agent on each core
    workers: int = setting(
        0, flag="--workers", help="process/ray: workers, each one trainer (0: one per core)"
    )
    ray_address: str = setting(
        "",
        flag="--ray-address",
        help="ray: the cluster to join, auto or HOST:PORT (empty: start one on this machine)",
    )

    def __post_init__(self) -> None:
        require(
            self.backend in BACKENDS,
            f"--backend must be one of {BACKENDS}, got {self.backend!r}",
        )
        require(self.workers >= 0, f"--workers must be >= 0, got {self.workers}")
        require(
            not self.workers or self.backend != "inprocess",
            "--workers sizes a pool of workers: add --backend process or ray",
        )
        require(
            not self.ray_address or self.backend == "ray",
            "--ray-address names a Ray cluster: add --backend ray",
        )
