"""The last lines of a `signfed local` or `simulate` run: the best and the tail-mean
accuracy beside the final one, and the accuracy curve as a PNG.

One evaluation of a sign-SGD run can sit anywhere in a swing of several points; the best
and the mean over the last third of the evaluated rounds (as the reports use:
signfed/report.py) say more than the last value alone. The curve is drawn when
matplotlib is installed (`pip install 'signfed[experiments]'`; `make setup` installs it).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from signfed.report import TAIL_FRACTION, in_tail

CURVE = "accuracy.png"


def evaluations(metrics_path: Path) -> list[tuple[int, float]]:
    """(round, accuracy) of every evaluated round in a metrics.jsonl, in round order."""
    found = []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "accuracy" in record:
            found.append((int(record["round"]), float(record["accuracy"])))
    return found


def accuracy_line(points: list[tuple[int, float]], step: str = "round") -> str:
    """'accuracy: best 0.9553 (round 299), last third mean 0.9546 (2 evaluations)';
    `step`: what a record counts ("update" in an asynchronous run)."""
    if not points:
        return "accuracy: no evaluation"
    best_round, best = max(points, key=lambda p: (p[1], -p[0]))
    last = max(r for r, _ in points)
    tail = [a for r, a in points if in_tail(r, last, TAIL_FRACTION)] or [points[-1][1]]
    return (
        f"accuracy: best {best:.4f} ({step} {best_round}), last third mean "
        f"{statistics.fmean(tail):.4f} ({len(tail)} evaluation{'s' * (len(tail) != 1)})"
    )


def draw_curve(points: list[tuple[int, float]], path: Path, title: str) -> bool:
    """The accuracy curve as a PNG at `path`; False (nothing written) without matplotlib
    or without evaluations."""
    if not points:
        return False
    from signfed.figures import accuracy_curve  # imports matplotlib only when drawing

    try:
        figure = accuracy_curve(points, title)
    except ImportError:  # matplotlib is not installed
        return False
    figure.savefig(path)
    return True


def report_lines(out: Path) -> list[str]:
    """The accuracy line and where the metrics, summary and curve are (for a run whose
    summary.json is written)."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    run = summary["config"]
    title = (
        f"{run['dataset']}, {run['num_clients']} clients, {summary['algorithm']}, "
        f"lr {run['learning_rate']:g} {run['lr_schedule']}"
    )
    points = evaluations(out / "metrics.jsonl")
    curve = out / CURVE
    drawn = draw_curve(points, curve, title)
    where = f"metrics: {out}/metrics.jsonl  summary: {out}/summary.json"
    where += f"  curve: {curve}" if drawn else "  (no curve: matplotlib is not installed)"
    step = "update" if summary.get("asynchrony") else "round"
    return [accuracy_line(points, step), where]
