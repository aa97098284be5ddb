"""The zeros grid: --zeros/--abstentions variants in the batch-mode plan, and the
report that reads finished runs (docs/results/zeros-*)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.batch_plan import BATCH_MODES
from common.config import config_json
from signfed.experiment import plan_runs
from signfed.experiment_config import BatchModesConfig
from signfed.zeros_report import gather, main


def test_plan_names_each_variant_and_runs_the_float_baseline_once() -> None:
    config = BatchModesConfig(
        modes=(4,), zeros=("coin", "abstain"), seeds=1, first_seed=2, abstentions="skip"
    )
    names = [s.name for s in plan_runs(config)]
    assert names == [
        "mnist-mode4-llr-seed2",
        "mnist-mode4-mv-seed2",
        "mnist-mode4-sgd-seed2",
        "mnist-mode4-llr-abstain-skip-seed2",
        "mnist-mode4-mv-abstain-seed2",  # mv has no counters: skip does not apply
    ]
    by_name = {s.name: s.run.aggregator for s in plan_runs(config)}
    assert by_name["mnist-mode4-llr-abstain-skip-seed2"].abstentions == "skip"
    assert by_name["mnist-mode4-mv-abstain-seed2"].zeros == "abstain"
    assert by_name["mnist-mode4-llr-seed2"].zeros == "coin"


def test_plan_refuses_an_unknown_zeros_rule() -> None:
    with pytest.raises(ValueError, match="--zeros must be among"):
        BatchModesConfig(zeros=("maybe",))


def _fake_run(folder: Path, name: str, zeros: str, seed: int, rounds: int) -> None:
    """A finished run folder as the experiment writes it, evaluations every 50 rounds."""
    config = BatchModesConfig(modes=(4,), zeros=(zeros,), seeds=1, first_seed=seed)
    spec = next(s for s in plan_runs(config) if s.algorithm.startswith("llr"))
    run = json.loads(json.dumps(config_json(spec.run)))
    run["rounds"] = rounds
    directory = folder / name
    directory.mkdir(parents=True)
    summary = {"config": run, "rounds": rounds, "error": None}
    (directory / "summary.json").write_text(json.dumps(summary))
    lines = [
        json.dumps({"round": r, "accuracy": 0.5 + r / 4000, "loss": 1.0})
        if (r + 1) % 50 == 0
        else json.dumps({"round": r})
        for r in range(rounds)
    ]
    (directory / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_report_reads_the_first_rounds_of_longer_runs(tmp_path: Path) -> None:
    _fake_run(tmp_path / "old", "mnist-mode4-llr-seed0", "coin", 0, 1000)
    _fake_run(tmp_path / "new", "mnist-mode4-llr-abstain-seed0", "abstain", 0, 600)
    _fake_run(tmp_path / "new", "short", "abstain", 1, 300)  # unfinished for 600: left out
    rows = gather([tmp_path / "old", tmp_path / "new"], 600)
    assert {(r["algorithm"], r["seed"]) for r in rows} == {("llr", 0), ("llr-abstain", 0)}
    assert max(r["round"] for r in rows) == 600
    assert {r["mode"] for r in rows} == {4} and BATCH_MODES[4][-1] == 904
    assert main(["--out", str(tmp_path / "out"), str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| mnist | 4 | llr-abstain |" in summary and "llr-abstain − llr" in summary


def test_one_run_in_two_folders_is_an_error(tmp_path: Path) -> None:
    _fake_run(tmp_path / "a", "mnist-mode4-llr-seed0", "coin", 0, 600)
    _fake_run(tmp_path / "b", "mnist-mode4-llr-seed0", "coin", 0, 600)
    with pytest.raises(SystemExit, match="is both"):
        gather([tmp_path / "a", tmp_path / "b"], 600)
