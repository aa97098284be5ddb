"""ResNet-56 on a tiny CIFAR-10 folder, through the networked run and the simulation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.test_cifar import write_folder

FLAGS = [
    "--dataset", "cifar10", "--clients", "2", "--batch-sizes", "4,8", "--rounds", "3",
    "--eval-every", "3", "--warmup-rounds", "1",
]  # fmt: skip


def _signfed(*argv: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = Path(argv[argv.index("--out") + 1])
    summary: dict[str, object] = json.loads((out / "summary.json").read_text())
    return summary


def test_resnet56_trains_on_cifar10_over_the_network_as_in_simulation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_folder(data / "cifar10" / "cifar-10-batches-py")
    common = [*FLAGS, "--data-dir", str(data)]
    networked = _signfed("local", *common, "--out", str(tmp_path / "net"))
    simulated = _signfed("simulate", *common, "--out", str(tmp_path / "sim"))
    assert networked["num_params"] == 853_018
    assert networked["replicas_identical"] is True
    assert simulated["model_digest"] == networked["model_digest"]
    assert isinstance(networked["final_accuracy"], float)
