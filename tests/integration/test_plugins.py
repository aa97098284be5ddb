"""docs/extending.md's examples, loaded by --plugin into real `signfed` processes: each
trains in `signfed simulate`, and `signfed local` hands them to its server and clients.

Each run takes about a second of training; starting Python and torch is the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
TIMEOUT_S = 180  # a hang guard: each run trains for about a second
ROUNDS, EVAL_EVERY = 30, 10

# example file -> (extra flags, (algorithm, model, dataset) the summary names, chance)
CASES = {
    "mv_momentum.py": (["--algorithm", "mv-momentum"], ("mv-momentum", "mlp", "digits"), 0.1),
    "logreg.py": (["--algorithm", "mv", "--model", "logreg"], ("mv", "logreg", "digits"), 0.1),
    "blobs.py": (["--algorithm", "mv", "--dataset", "blobs"], ("mv", "mlp", "blobs"), 0.25),
}


def _signfed(argv: list[str], env: dict[str, str] | None = None) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIGNFED_")}
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT,
        env={**environment, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _evaluations(out: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "accuracy" in r]


@pytest.mark.parametrize("example", CASES)
def test_each_example_trains_in_simulate(example: str, tmp_path: Path) -> None:
    flags, names, chance = CASES[example]
    out = tmp_path / "run"
    _signfed(
        ["simulate", "--plugin", f"docs/examples/{example}", *flags, "--rounds", str(ROUNDS),
         "--lr", "0.01", "--eval-every", str(EVAL_EVERY), "--out", str(out)]
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    config = summary["config"]
    assert (summary["algorithm"], config["model"], config["dataset"]) == names
    assert summary["rounds"] == ROUNDS
    accuracy = summary["final_accuracy"]
    assert isinstance(accuracy, float) and accuracy >= chance + 0.4  # measured 0.83 to 0.95
    evaluations = _evaluations(out)
    assert [r["round"] for r in evaluations] == [9, 19, 29]
    assert evaluations[-1]["loss"] < 0.8 * evaluations[0]["loss"]  # it learns


def test_local_hands_the_plugins_to_its_server_and_clients(tmp_path: Path) -> None:
    """All three at once, from SIGNFED_PLUGIN: the server and both clients build the
    plugin model on the plugin dataset and end with identical replicas."""
    out = tmp_path / "run"
    files = [str(EXAMPLES / name) for name in ("blobs.py", "logreg.py", "mv_momentum.py")]
    stdout = _signfed(
        ["local", "--dataset", "blobs", "--model", "logreg", "--algorithm", "mv-momentum",
         "--clients", "2", "--rounds", "20", "--lr", "0.01", "--eval-every", "10",
         "--out", str(out)],
        env={"SIGNFED_PLUGIN": os.pathsep.join(files)},
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["algorithm"], summary["config"]["model"], summary["config"]["dataset"]) == (
        "mv-momentum",
        "logreg",
        "blobs",
    )
    assert summary["num_params"] == 16 * 4 + 4  # logreg on blobs: one 16 -> 4 layer
    assert summary["replicas_identical"] is True and summary["clients_reported"] == 2
    assert summary["final_accuracy"] >= 0.5  # chance 0.25; measured 0.72
    assert "replicas identical: True" in stdout


def test_the_process_pool_workers_load_the_plugins(tmp_path: Path) -> None:
    """Spawned workers start bare: the run's --plugin files travel in their PoolSpec."""
    plugins = ["--plugin", "docs/examples/blobs.py", "--plugin", "docs/examples/logreg.py"]
    run = ["--dataset", "blobs", "--model", "logreg", "--algorithm", "mv", "--clients", "4",
           "--rounds", "5", "--lr", "0.01", "--partition", "iid"]  # fmt: skip
    digests = []
    for backend in ("inprocess", "process"):
        out = tmp_path / backend
        _signfed(["simulate", *plugins, *run, "--backend", backend,
                  "--out", str(out), "--data-dir", str(tmp_path)])  # fmt: skip
        digests.append(json.loads((out / "summary.json").read_text())["model_digest"])
    assert digests[0] == digests[1]
