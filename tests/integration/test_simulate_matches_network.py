"""`signfed simulate` and `signfed local` end at the same model, bit for bit.

Same configuration, same seed: heterogeneous batches, a Dirichlet split (its alpha is
not a float32 number: the wire must carry it exactly), a cosine lr schedule (server and
clients must compute the same lr_t) and enough rounds for the llr weights to act.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN_FLAGS = [
    "--dataset", "digits", "--clients", "4", "--batch-sizes", "4,4,16,64", "--rounds", "16",
    "--lr", "0.01", "--lr-schedule", "cosine", "--partition", "dirichlet",
    "--dirichlet-alpha", "0.3", "--warmup-rounds", "4", "--eval-every", "5", "--seed", "3",
]  # fmt: skip
COMPARED = ("round", "clients", "bytes_down", "accuracy", "loss", "client_weights")


def _signfed(*argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compared(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k in COMPARED} for line in lines]


@pytest.mark.parametrize("algorithm", ["llr", "mv"])
def test_simulation_and_network_give_bit_identical_models(tmp_path: Path, algorithm: str) -> None:
    net, sim = tmp_path / "net", tmp_path / "sim"
    _signfed("local", *RUN_FLAGS, "--algorithm", algorithm, "--out", str(net))
    _signfed("simulate", *RUN_FLAGS, "--algorithm", algorithm, "--out", str(sim))

    networked = json.loads((net / "summary.json").read_text())
    simulated = json.loads((sim / "summary.json").read_text())
    assert networked["replicas_identical"] is True
    assert simulated["model_digest"] == networked["model_digest"]
    assert simulated["rounds"] == networked["rounds"] == 16
    assert simulated["config"] == networked["config"]
    # Every round's evaluation, weights and decision traffic agree as well.
    assert _compared(sim) == _compared(net)
    assert [r for r in _compared(sim) if "client_weights" in r] or algorithm == "mv"
