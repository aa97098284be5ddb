"""The settings every `signfed experiment` grid shares (seeds, where runs and data
live, how many at a time), a base of each grid's configuration (batch-modes:
signfed/experiment_config.py; robustness: signfed/robustness_config.py), whose
options are generated from these fields too (common/flags.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import require
from common.flags import joined, setting, word_tuple
from common.registry import dataset_names


def names_setting(default: tuple[str, ...], *, flag: str, help: str) -> Any:
    """A setting that lists names: `--flag a,b` is ("a", "b")."""
    return setting(default, flag=flag, help=help, parse=word_tuple, show=joined)


@dataclass(frozen=True)
class GridConfig:
    dataset: str = setting("mnist", flag="--dataset", help="dataset", choices=dataset_names)
    # Seeds F .. F+seeds-1: single runs of constant-lr signSGD are noisy.
    seeds: int = setting(2, flag="--seeds", help="runs per setting, seeds F .. F+S-1")
    first_seed: int = setting(0, flag="--first-seed", help="F: the first seed (extend a grid)")
    # each grid declares it again with its own default, runs/<grid>
    out_dir: str = setting(
        "runs/experiment", flag="--out", help="where the CSVs, table and figures go"
    )
    runs_dir: str = setting(
        "", flag="--runs-dir", help="one folder per run (rerun to resume); empty: OUT/runs"
    )
    data_dir: str = setting(
        "data", flag="--data-dir", help="where datasets live (see `signfed fetch`)"
    )
    workers: int = setting(  # one run per core
        default_factory=lambda: os.cpu_count() or 1,
        flag="--workers",
        help="runs at a time, one torch thread each",
    )

    def __post_init__(self) -> None:
        require(self.seeds >= 1, f"--seeds must be >= 1, got {self.seeds}")
        require(self.first_seed >= 0, f"--first-seed must be >= 0, got {self.first_seed}")
        require(self.workers >= 1, f"--workers must be >= 1, got {self.workers}")

    def runs_path(self) -> Path:
        """Where the run folders live: --runs-dir, else OUT/runs."""
        return Path(self.runs_dir or Path(self.out_dir) / "runs")
