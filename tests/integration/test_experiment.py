"""`signfed experiment batch-modes` on digits: the grid, its outputs, and resuming."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

GRID = [
    "experiment", "batch-modes", "--dataset", "digits", "--rounds", "10", "--seeds", "1",
    "--modes", "1,4", "--eval-every", "5", "--warmup-rounds", "3", "--workers", "2",
]  # fmt: skip


def _experiment(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signfed.cli", *GRID, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_grid_writes_csvs_table_and_figures_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "exp"
    first = _experiment(out)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "6 runs (0 already finished), 2 at a time" in first.stdout

    accuracy = _rows(out / "accuracy.csv")
    keys = {(r["mode"], r["algorithm"], r["seed"]) for r in accuracy}
    assert keys == {(m, a, "0") for m in ("1", "4") for a in ("llr", "mv", "sgd")}
    assert sorted({r["round"] for r in accuracy}) == ["10", "5"]
    weights = _rows(out / "weights.csv")
    assert len(weights) == 2 * 2 * 15  # llr runs of modes 1 and 4, two evaluations, 15 clients
    assert {r["batch_size"] for r in weights if r["mode"] == "4"} == {"4", "904"}
    assert "| digits | 4 | llr |" in (out / "summary.md").read_text()
    for figure in ("accuracy.png", "weights-mode4.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Rerun: nothing is recomputed.
    summaries = sorted((out / "runs").glob("*/summary.json"))
    stamps = [p.stat().st_mtime_ns for p in summaries]
    again = _experiment(out)
    assert again.returncode == 0, again.stderr
    assert "6 runs (6 already finished)" in again.stdout
    assert [p.stat().st_mtime_ns for p in summaries] == stamps

    # As committed under docs/results: gzipped metrics, still finished, the same report.
    for path in (out / "runs").glob("*/metrics.jsonl"):
        path.with_suffix(".jsonl.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    packed = _experiment(out)
    assert "6 runs (6 already finished)" in packed.stdout, packed.stderr
    assert _rows(out / "accuracy.csv") == accuracy
    assert [p.stat().st_mtime_ns for p in summaries] == stamps

    # A run without its summary (as if killed) is the only one run again.
    lost = out / "runs" / "digits-mode4-mv-seed0" / "summary.json"
    lost.unlink()
    third = _experiment(out)
    assert "6 runs (5 already finished), 1 at a time" in third.stdout
    assert lost.exists()
    assert _rows(out / "accuracy.csv") == accuracy  # the same numbers, recomputed


def test_other_settings_in_the_same_directory_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "exp"
    assert _experiment(out, "--algorithms", "mv", "--modes", "1").returncode == 0
    clash = _experiment(out, "--algorithms", "mv", "--modes", "1", "--lr", "0.002")
    assert clash.returncode == 2
    assert "holds a run with other settings" in clash.stderr
    assert len(list((out / "runs").glob("*/summary.json"))) == 1  # nothing lost
