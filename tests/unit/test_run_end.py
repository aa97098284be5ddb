"""The last lines of a run: best and tail-mean accuracy, and the curve when it can be drawn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from signfed.run_end import accuracy_line, draw_curve, report_lines

POINTS = [(49, 0.88), (99, 0.93), (149, 0.95), (199, 0.9536), (249, 0.9541), (299, 0.9553)]


def test_best_and_the_last_third() -> None:
    # 299 * 2/3 = 199.3: rounds 249 and 299 are the last third; the best is the latest max.
    assert accuracy_line(POINTS) == (
        "accuracy: best 0.9553 (round 299), last third mean 0.9547 (2 evaluations)"
    )
    assert accuracy_line([(9, 0.5), (19, 0.7), (29, 0.7)]).startswith(
        "accuracy: best 0.7000 (round 19)"
    )
    assert accuracy_line([]) == "accuracy: no evaluation"
    # an asynchronous run's records count updates
    assert accuracy_line(POINTS, "update").startswith("accuracy: best 0.9553 (update 299)")


def test_report_lines_draw_the_curve(tmp_path: Path) -> None:
    records = [{"round": r, "accuracy": a, "loss": 0.1} for r, a in POINTS]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {
        "algorithm": "llr",
        "config": {"dataset": "mnist", "num_clients": 15, "learning_rate": 0.001,
                   "lr_schedule": "cosine"},
    }  # fmt: skip
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    accuracy, where = report_lines(tmp_path)
    assert accuracy.startswith("accuracy: best 0.9553")
    assert where.endswith(f"curve: {tmp_path}/accuracy.png")
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_there_is_no_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith(("matplotlib", "signfed.figures"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert draw_curve(POINTS, tmp_path / "accuracy.png", "t") is False
    assert not (tmp_path / "accuracy.png").exists()
