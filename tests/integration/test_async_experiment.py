"""`signfed experiment async` on digits: every method end to end through the CLI, its
runs in worker processes, resumed without recomputing, and the report rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from signfed.async_experiment_config import METHODS
from signfed.cli import main
from tests.integration.test_experiment import _rows  # a CSV's rows, as text

GRID = [
    "experiment", "async", "--dataset", "digits", "--clients", "4", "--rounds", "3",
    "--eval-every", "4", "--buffer-size", "2", "--deadline", "0.3", "--quorum", "0.5",
    "--target", "0.3", "--seeds", "1", "--workers", "2",
]  # fmt: skip


def test_every_method_runs_resumes_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exp"
    assert main([*GRID, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "12 runs (0 already finished), 2 at a time" in said  # 2 partitions x 6 methods
    finals = _rows(out / "final.csv")
    assert {(r["partition"], r["method"]) for r in finals} == {
        (p, m) for p in ("iid", "dirichlet") for m in METHODS
    }
    for row in finals:
        erased = row["method"] == "sync-deadline"
        assert (int(row["updates"]) < 12) if erased else (row["updates"] == "12"), row
    summary = (out / "summary.md").read_text()
    assert "## iid" in summary and "## dirichlet" in summary
    for figure in ("time.png", "updates.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert main([*GRID, "--out", str(out)]) == 0  # nothing left to run
    assert "12 runs (12 already finished)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in before} == before
    (out / "final.csv").unlink()
    assert main([*GRID, "--out", str(out), "--report-only"]) == 0
    assert _rows(out / "final.csv") == finals


def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*GRID, "--methods", "sync,fedprox", "--out", str(tmp_path / "x")]) == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "--methods: unknown ['fedprox']" in said
    assert not (tmp_path / "x").exists()
