"""The robustness grid: its plan, its settings' checks, and the report over finished
runs (fake run folders written by hand: a partial grid, as an interrupted one leaves)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from common.attacks import attacker_ids
from common.config import config_json
from signfed.grid import _run_one, run_lock
from signfed.robustness import RunSpec, plan_runs
from signfed.robustness_config import RobustnessConfig
from signfed.robustness_report import write_report
from tests.unit.test_figures import needs_matplotlib, png_size


def test_the_default_grid_per_seed() -> None:
    specs = plan_runs(RobustnessConfig())
    # per seed: 2 partitions x 9 defences x (no attack + 2 attacker counts x 6 attacks)
    assert len(specs) == 2 * (2 * 9 * (1 + 2 * 6))
    assert [s.seed for s in specs] == [0] * 234 + [1] * 234  # seed-major
    assert specs[0].name == "iid-f0-none-fedavg-seed0"
    assert specs[9].name == "iid-f3-negate-fedavg-seed0"
    assert specs[-1].name == "dirichlet-f6-ipm-fd-seed1"
    assert len({s.name for s in specs}) == len(specs)


def test_plan_order_and_names() -> None:
    config = RobustnessConfig(
        partitions=("iid", "dirichlet"), attackers=(0, 3), attacks=("negate", "random"),
        defences=("median", "llr"), seeds=1, first_seed=1,
    )  # fmt: skip
    assert [s.name for s in plan_runs(config)] == [
        "iid-f0-none-median-seed1",
        "iid-f0-none-llr-seed1",
        "iid-f3-negate-median-seed1",
        "iid-f3-negate-llr-seed1",
        "iid-f3-random-median-seed1",
        "iid-f3-random-llr-seed1",
        "dirichlet-f0-none-median-seed1",
        "dirichlet-f0-none-llr-seed1",
        "dirichlet-f3-negate-median-seed1",
        "dirichlet-f3-negate-llr-seed1",
        "dirichlet-f3-random-median-seed1",
        "dirichlet-f3-random-llr-seed1",
    ]


def _spec(specs: list[RunSpec], name: str) -> RunSpec:
    return next(s for s in specs if s.name == name)


def test_float_and_sign_defences_run_their_own_settings() -> None:
    config = RobustnessConfig(defences=("fedavg", "krum", "llr"), out_dir="out", seeds=1)
    specs = plan_runs(config)
    krum = _spec(specs, "dirichlet-f3-negate-krum-seed0")
    assert (krum.run.aggregator.algorithm, krum.run.aggregator.rule) == ("fedavg", "krum")
    assert (krum.run.rounds, krum.run.learning_rate, krum.run.eval_every) == (30, 0.05, 1)
    assert krum.run.partition == "dirichlet" and krum.run.dirichlet_alpha == 0.5
    assert krum.run.batch_sizes == (64,) * 15 and krum.run.num_clients == 15
    assert krum.simulation.attack.attack_scale == 4.0  # negate at -4x
    assert krum.simulation.checkpoint_every == 10 and krum.simulation.threads == 1
    assert krum.directory == Path("out/runs/dirichlet-f3-negate-krum-seed0")

    llr = _spec(specs, "iid-f6-random-llr-seed0")
    assert (llr.run.rounds, llr.run.learning_rate, llr.run.eval_every) == (300, 1e-3, 25)
    assert llr.run.aggregator.algorithm == "llr" and llr.run.aggregator.warmup_rounds == 50
    assert llr.simulation.checkpoint_every == 100  # the same 1/3 of its run as fedavg's
    assert (llr.simulation.attack.attack, llr.simulation.attack.attackers) == ("random", 6)
    assert llr.simulation.attack.attack_scale == 0.0  # its default
    assert _spec(specs, "iid-f0-none-fedavg-seed0").run.aggregator.rule == "mean"
    assert _spec(specs, "iid-f0-none-fedavg-seed0").simulation.attack.attack == "none"

    elsewhere = plan_runs(RobustnessConfig(defences=("llr",), seeds=1, runs_dir="r", out_dir="o"))
    assert elsewhere[0].directory == Path("r/iid-f0-none-llr-seed0")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"defences": ("mean",)}, "--defences must be distinct names among fedavg, "),
        ({"defences": ("llr", "llr")}, "--defences"),
        ({"attacks": ("none",)}, "--attacks"),
        ({"partitions": ()}, "--partitions"),
        ({"attackers": (0, 16)}, r"--attackers must be distinct counts in \[0, --clients 15\]"),
        ({"seeds": 0}, "--seeds must be >= 1"),
        ({"float_rounds": 0}, "--float-rounds must be >= 1"),
        ({"eval_every_sign": 0}, "--eval-every-sign must be >= 1"),
        ({"negate_scale": 0.0}, "--negate-scale must be > 0"),
        ({"float_lr": -1.0}, "--float-lr must be > 0"),
        ({"checkpoint_every": -1}, "--checkpoint-every must be >= 0"),
        ({"workers": 0}, "--workers must be >= 1"),
    ],
)
def test_bad_settings_name_their_flag(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RobustnessConfig(**{"defences": ("fedavg", "llr")} | settings)


# ---- the report, from run folders written by hand ------------------------------------

BASE = {  # (defence, attack) -> accuracy at round 0; each evaluation adds 0.01 per round
    ("fedavg", "none"): 0.80,
    ("fedavg", "negate"): 0.10,
    ("llr", "none"): 0.70,
    ("llr", "negate"): 0.60,
}


def _config(out: Path, **settings: Any) -> RobustnessConfig:
    return RobustnessConfig(
        **{
            "dataset": "digits", "clients": 4, "attackers": (0, 1), "attacks": ("negate",),
            "defences": ("fedavg", "llr"), "float_rounds": 6, "sign_rounds": 6,
            "eval_every_sign": 2, "out_dir": str(out), "workers": 1,
        } | settings
    )  # fmt: skip


def _fake_run(spec: RunSpec, *, finished: bool = True) -> None:
    """A run folder as the simulation leaves it: accuracy base + 0.01 * round + 0.02 * seed
    at each evaluation; llr reports weights, +round/100 for honest clients, - for attackers."""
    run, attack = spec.run, spec.simulation.attack
    ids = attacker_ids(spec.seed, run.num_clients, spec.attackers)
    lines = []
    for t in range(run.rounds):
        record: dict[str, Any] = {"round": t}
        done = t + 1
        if done % run.eval_every == 0:
            accuracy = BASE[(spec.defence, spec.attack)] + 0.01 * done + 0.02 * spec.seed
            record |= {"accuracy": round(accuracy, 6), "loss": 1.5}
            if spec.defence == "llr":
                signed = {str(c): (-done if c in ids else done) / 100 for c in range(4)}
                record["client_weights_signed"] = signed
        lines.append(json.dumps(record))
    spec.directory.mkdir(parents=True)
    (spec.directory / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        recorded = None if attack.attack == "none" else asdict(attack) | {"ids": list(ids)}
        summary = {"config": config_json(run), "rounds": run.rounds, "error": None}
        (spec.directory / "summary.json").write_text(json.dumps(summary | {"attack": recorded}))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _partial_grid(tmp_path: Path) -> RobustnessConfig:
    """Both seeds of iid but seed 1 of f1-negate-llr (still running: no summary); of
    dirichlet only seed 0 of fedavg without attack."""
    config = _config(tmp_path / "out")
    for spec in plan_runs(config):
        if spec.partition == "iid" or spec.name == "dirichlet-f0-none-fedavg-seed0":
            _fake_run(spec, finished=spec.name != "iid-f1-negate-llr-seed1")
    return config


def test_report_of_a_partial_grid(tmp_path: Path) -> None:
    config = _partial_grid(tmp_path)
    write_report(config, None)
    out = tmp_path / "out"

    finals = _rows(out / "final.csv")
    assert len(finals) == 4 + 3 + 1  # iid: 4 runs of seed 0, 3 of seed 1; dirichlet: 1
    assert finals[0] == {
        "partition": "iid", "attackers": "0", "attack": "none", "defence": "fedavg",
        "seed": "0", "rounds": "6", "final_accuracy": "0.86",
        "tail_accuracy": "0.855",  # rounds 5 and 6: the last third of 6
        "best_accuracy": "0.86",
    }  # fmt: skip
    llr = next(r for r in finals if r["defence"] == "llr" and r["attack"] == "negate")
    # evaluations at rounds 2, 4, 6: the tail is round 6 alone
    assert (llr["rounds"], llr["tail_accuracy"], llr["best_accuracy"]) == ("6", "0.66", "0.66")

    accuracy = _rows(out / "accuracy.csv")
    assert len(accuracy) == 4 * 6 + 3 * 3 + 6  # fedavg runs: 6 evaluations, llr: 3
    assert accuracy[0] == {
        "partition": "iid", "attackers": "0", "attack": "none", "defence": "fedavg",
        "seed": "0", "round": "1", "accuracy": "0.81", "loss": "1.5",
    }  # fmt: skip

    weights = _rows(out / "weights.csv")
    assert len(weights) == 4 * 3 * 3  # 4 clients x 3 evaluations x 3 finished llr runs
    attacked = [r for r in weights if r["attack"] == "negate"]
    assert {r["client"] for r in attacked if r["attacker"] == "1"} == {
        str(i) for i in attacker_ids(0, 4, 1)
    }
    assert {r["signed_weight"] for r in attacked if r["attacker"] == "1"} == {
        "-0.02", "-0.04", "-0.06"
    }  # fmt: skip

    summary = (out / "summary.md").read_text()
    assert "| defence | no attack | F=1 negate |" in summary
    assert "| fedavg | 86.50 ± 1.00 | 16.50 ± 1.00 |" in summary  # tails .855/.875, .155/.175
    assert "| llr | 77.00 ± 1.00 | 66.00 (1/2) |" in summary  # one seed of llr negate
    dirichlet = summary[summary.index("## dirichlet") :]
    assert "| fedavg | 85.50 (1/2) | – |" in dirichlet
    assert "| llr | – | – |" in dirichlet


@needs_matplotlib
def test_report_figures_have_their_sizes(tmp_path: Path) -> None:
    write_report(_partial_grid(tmp_path), None)
    out = tmp_path / "out"
    # 2 columns (no attack, F=1 negate) x 2 defences, 2 partitions, at 120 dpi:
    # max(4.8, 0.7 * 2 + 2.3) x ((0.4 * 2 + 1.3) * 2 + 0.3) inches
    assert png_size(out / "heatmap.png") == (576, 540)
    # 2 attack columns x (2 partitions x float, sign rows), 2.6 x 2.0 each, + 0.8 legend
    assert png_size(out / "curves.png") == (624, 1056)
    # llr x negate: one 4.2 x 2.8 panel + 0.8 legend
    assert png_size(out / "weights.png") == (504, 432)


@needs_matplotlib
def test_a_grid_without_attacks_draws_no_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "out", defences=("fedavg",), attackers=(0,), partitions=("iid",))
    for spec in plan_runs(config):
        _fake_run(spec)
    write_report(config, None)
    assert "no weights.png: no runs to draw" in capsys.readouterr().out
    assert not (tmp_path / "out" / "weights.png").exists()
    assert png_size(tmp_path / "out" / "heatmap.png") == (576, 240)  # (0.4 + 1.3) + 0.3
    assert png_size(tmp_path / "out" / "curves.png") == (312, 336)  # the no-attack panel


def test_nothing_finished_writes_empty_csvs(tmp_path: Path) -> None:
    config = _config(tmp_path / "out")
    write_report(config, None)
    assert _rows(tmp_path / "out" / "final.csv") == []
    assert not (tmp_path / "out" / "summary.md").exists()


def test_a_run_folder_with_other_settings_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path / "out")
    _fake_run(plan_runs(config)[2])  # iid-f1-negate-fedavg-seed0, scale 4
    with pytest.raises(ValueError, match="holds a run with other settings"):
        write_report(_config(tmp_path / "out", negate_scale=2.0), None)


def test_a_run_another_process_holds_is_skipped(tmp_path: Path) -> None:
    spec = plan_runs(_config(tmp_path / "out"))[0]
    with run_lock(spec.directory) as mine:
        assert mine
        with run_lock(spec.directory) as again:  # a second open file: as another process
            assert not again
        assert _run_one(spec.simulation) == "skipped: another process is running it"
    assert not (spec.directory / "run.log").exists()  # nothing ran
    with run_lock(spec.directory) as mine:  # released on the way out
        assert mine
    assert [p.name for p in spec.directory.iterdir()] == []  # no lock file left behind


def test_a_run_finished_since_the_plan_is_skipped(tmp_path: Path) -> None:
    spec = plan_runs(_config(tmp_path / "out"))[0]
    _fake_run(spec)  # as a second grid on the same runs directory leaves it
    assert _run_one(spec.simulation) == "skipped: finished by another process"
    assert not (spec.directory / "run.log").exists()


def test_a_column_without_runs_is_left_out(tmp_path: Path) -> None:
    config = _config(tmp_path / "out", attacks=("negate", "random"))
    for spec in plan_runs(config):
        if spec.attack != "random":  # as a union of slices leaves it
            _fake_run(spec)
    write_report(config, None)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| defence | no attack | F=1 negate |" in summary and "random" not in summary
