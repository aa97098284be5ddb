"""`signfed experiment async`: its plan (every method on one clock, the same work), its
settings' checks, and its report over runs made here (digits, tiny)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from common.data import Dataset
from signfed.async_experiment import plan_runs
from signfed.async_experiment_config import METHODS, AsyncExperimentConfig
from signfed.async_report import write_report
from signfed.async_simulation import AsyncSimulation
from signfed.grid import is_finished
from signfed.simulation import Simulation


def test_the_plan_gives_every_method_the_same_work_on_one_clock() -> None:
    specs = plan_runs(AsyncExperimentConfig(seeds=1, out_dir="o"))
    assert len(specs) == 2 * len(METHODS) == 12
    assert [s.name for s in specs[:6]] == [f"iid-{m}-seed0" for m in METHODS]
    by_method = {s.method: s for s in specs if s.partition == "iid"}
    sync, deadline = by_method["sync"].simulation, by_method["sync-deadline"].simulation
    assert (sync.run.rounds, sync.run.eval_every, sync.asynchrony.enabled) == (20, 1, False)
    assert sync.clock.virtual_clock and sync.clock.virtual_deadline == 0
    assert (deadline.clock.virtual_deadline, deadline.clock.virtual_quorum) == (10.0, 0.8)
    for method in METHODS[2:]:
        simulation = by_method[method].simulation
        assert simulation.run.rounds == 20 * 15 and simulation.run.eval_every == 15
        assert simulation.checkpoint_every == 75  # five rounds' worth of updates
        assert simulation.clock == replace(sync.clock, virtual_clock=False)
    hinge = by_method["fedasync-hinge"].simulation.asynchrony
    assert (hinge.mode, hinge.staleness, hinge.alpha) == ("fedasync", "hinge", 0.6)
    buffered = by_method["fedbuff"].simulation.asynchrony
    assert (buffered.mode, buffered.buffer_size) == ("fedbuff", 5)
    assert all(s.run.aggregator.algorithm == "fedavg" for s in specs)
    assert {s.simulation.clock.straggler for s in specs} == {0}
    dirichlet = next(s for s in specs if s.partition == "dirichlet")
    assert dirichlet.run.dirichlet_alpha == 0.5 and dirichlet.directory == Path(
        "o/runs/dirichlet-sync-seed0"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"methods": ("sync", "fedprox")}, r"--methods: unknown \['fedprox'\]"),
        ({"straggler": 15}, "--straggler must be a client id in"),
        ({"quorum": 0}, "--quorum must be in"),
        ({"target": 1.0}, "--target must be in"),
        ({"buffer_size": 0}, "--buffer-size must be >= 1"),
    ],
)
def test_bad_settings_name_their_flag(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AsyncExperimentConfig(**settings)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_of_runs_made_here(digits: Dataset, tmp_path: Path) -> None:
    config = AsyncExperimentConfig(
        dataset="digits", clients=4, partitions=("iid",), seeds=1, rounds=3,
        methods=("sync", "sync-deadline", "fedbuff"), eval_every=4, buffer_size=2,
        deadline=0.3, quorum=0.5, target=0.3, out_dir=str(tmp_path / "out"),
    )  # fmt: skip
    specs = plan_runs(config)
    for spec in specs:
        runner = AsyncSimulation if spec.asynchronous else Simulation
        runner(spec.simulation, digits).run_all()
        assert is_finished(spec.simulation)
    write_report(config, specs)
    finals = {r["method"]: r for r in _rows(tmp_path / "out" / "final.csv")}
    assert finals["sync"]["updates"] == finals["fedbuff"]["updates"] == "12"  # 3 x 4
    assert int(finals["sync-deadline"]["updates"]) < 12  # the straggler's were erased
    waited, closed = (float(finals[m]["virtual_seconds"]) for m in ("sync", "sync-deadline"))
    assert closed < waited  # the deadline does not wait for the straggler
    assert any(row["seconds_to_target"] for row in finals.values())
    for row in finals.values():
        if row["seconds_to_target"]:  # the first evaluation at >= 30 %
            assert float(row["seconds_to_target"]) <= float(row["virtual_seconds"])
    accuracy = _rows(tmp_path / "out" / "accuracy.csv")
    assert [r["updates"] for r in accuracy if r["method"] == "sync"] == ["4", "8", "12"]
    assert [r["updates"] for r in accuracy if r["method"] == "fedbuff"] == ["4", "8", "12"]
    full, delta = (int(finals["fedbuff"][k]) for k in ("download_bytes", "delta_download_bytes"))
    summary_json = (specs[2].directory / "summary.json").read_text()
    num_params = json.loads(summary_json)["num_params"]
    assert full == 4 * num_params  # one float32 model after every update
    assert 0 < delta < full  # buffered updates change nothing: their deltas are empty
    assert finals["sync"]["download_bytes"] == ""
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| sync | 1 |" in summary and "| fedbuff | 1 |" in summary
    # a changed setting of an asynchronous run is a different run, not a finished one
    changed = replace(
        specs[2].simulation, asynchrony=replace(specs[2].simulation.asynchrony, buffer_size=3)
    )
    with pytest.raises(ValueError, match="holds a run with other settings"):
        is_finished(changed)
