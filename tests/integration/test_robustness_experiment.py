"""`signfed experiment robustness` on digits: a small grid end to end, resumed, and its
report rebuilt from the finished runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.attacks import attacker_ids
from signfed.cli import main
from tests.integration.test_experiment import _rows  # accuracy.csv's rows, as text

GRID = [
    "experiment", "robustness", "--dataset", "digits", "--clients", "4", "--attackers", "0,1",
    "--attacks", "negate", "--defences", "fedavg,median,llr", "--seeds", "1",
    "--float-rounds", "3", "--sign-rounds", "6", "--eval-every-sign", "3",
    "--warmup-rounds", "2", "--workers", "2",
]  # fmt: skip


def _experiment(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """The CLI in this process (its runs in worker processes): exit code, what it printed."""
    code = main([*GRID, "--out", str(out), *extra])
    return code, capsys.readouterr().out


def test_grid_runs_resumes_and_rebuilds_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exp"
    code, said = _experiment(out, capsys)
    assert code == 0, said
    # 2 partitions x 3 defences x (no attack + F=1 negate)
    assert "12 runs (0 already finished), 2 at a time" in said

    finals = _rows(out / "final.csv")
    keys = {(r["partition"], r["attackers"], r["attack"], r["defence"]) for r in finals}
    assert keys == {
        (p, f, a, d)
        for p in ("iid", "dirichlet")
        for f, a in (("0", "none"), ("1", "negate"))
        for d in ("fedavg", "median", "llr")
    }
    assert {r["rounds"] for r in finals if r["defence"] == "llr"} == {"6"}
    accuracy = _rows(out / "accuracy.csv")
    fedavg = [r["round"] for r in accuracy if r["defence"] == "fedavg" and r["seed"] == "0"]
    assert fedavg == ["1", "2", "3"] * 4  # every round: 2 partitions x 2 attack settings
    assert {r["round"] for r in accuracy if r["defence"] == "llr"} == {"3", "6"}
    weights = _rows(out / "weights.csv")
    attacked = {r["client"] for r in weights if r["attacker"] == "1"}
    assert attacked == {str(i) for i in attacker_ids(0, 4, 1)}
    assert len(weights) == 2 * 2 * 2 * 4  # llr: 2 partitions x 2 attack settings x 2 evals
    summary = (out / "summary.md").read_text()
    assert "| defence | no attack | F=1 negate |" in summary and "| – |" not in summary
    for figure in ("heatmap.png", "curves.png", "weights.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Rerun: nothing is recomputed.
    summaries = sorted((out / "runs").glob("*/summary.json"))
    stamps = [p.stat().st_mtime_ns for p in summaries]
    code, again = _experiment(out, capsys)
    assert code == 0 and "12 runs (12 already finished)" in again, again
    assert [p.stat().st_mtime_ns for p in summaries] == stamps

    # --report-only runs nothing and writes the same report again.
    table = (out / "summary.md").read_text()
    for name in ("final.csv", "summary.md", "heatmap.png"):
        (out / name).unlink()
    code, rebuilt = _experiment(out, capsys, "--report-only")
    assert code == 0, rebuilt
    assert rebuilt.startswith("12 finished runs")  # no grid line: nothing ran
    assert _rows(out / "final.csv") == finals
    assert (out / "summary.md").read_text() == table
    assert (out / "heatmap.png").exists()
    assert [p.stat().st_mtime_ns for p in summaries] == stamps
