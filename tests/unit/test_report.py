"""Tables of `signfed experiment`: CSV parsing, tail means over seeds, gaps, Markdown."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from signfed import report, report_weights

ACCURACY_COLUMNS = ["dataset", "mode", "algorithm", "seed", "round", "accuracy", "loss"]
WEIGHT_COLUMNS = ["dataset", "mode", "seed", "round", "client", "batch_size", "mean_abs_weight"]
ROUNDS = (50, 100, 150, 200, 250, 300)  # tail of 300 rounds: 250 and 300; 200 is the boundary


def run(algorithm: str, seed: int, accuracies: list[float]) -> list[dict[str, Any]]:
    return [
        {"dataset": "mnist", "mode": 4, "algorithm": algorithm, "seed": seed, "round": r,
         "accuracy": a, "loss": 0.5}
        for r, a in zip(ROUNDS, accuracies, strict=True)
    ]  # fmt: skip


# llr: tail means 0.60 and 0.90 (the 0.99s at round 200 must not count); mv: 0.50, 0.60
EARLY = [0.1, 0.2, 0.3, 0.99]
LLR = run("llr", 0, [*EARLY, 0.5, 0.7]) + run("llr", 1, [*EARLY, 0.8, 1.0])
MV = run("mv", 0, [*EARLY, 0.4, 0.6]) + run("mv", 1, [*EARLY, 0.6, 0.6])


def test_tail_is_the_rounds_after_two_thirds_exactly() -> None:
    assert not report.in_tail(200, 300) and report.in_tail(201, 300)
    assert not report.in_tail(2, 3) and report.in_tail(3, 3)
    # in floats 10 * (1 - 0.3) is 6.999..., which would let round 7 in
    assert not report.in_tail(7, 10, 0.3) and report.in_tail(8, 10, 0.3)
    assert report.in_tail(1, 10, 1.0) and not report.in_tail(0, 10, 1.0)
    with pytest.raises(ValueError, match="tail_fraction"):
        report.in_tail(1, 10, 0.0)


def test_summary_is_tail_mean_per_seed_then_statistics_over_seeds() -> None:
    llr, mv = report.summarise(MV + LLR)  # llr sorts first whatever the row order
    assert (llr.dataset, llr.mode, llr.algorithm, mv.algorithm) == ("mnist", 4, "llr", "mv")
    assert llr.tail_mean == pytest.approx(0.75)
    assert llr.tail_std == pytest.approx(math.sqrt(0.045))  # sample std of 0.60, 0.90
    assert (llr.tail_min, llr.tail_max) == pytest.approx((0.6, 0.9))
    assert (llr.seeds, llr.tail_evals, llr.max_round) == (2, 2, 300)
    assert llr.final_mean == pytest.approx(0.85)
    assert mv.tail_mean == pytest.approx(0.55) and mv.final_mean == pytest.approx(0.6)


def test_one_seed_has_zero_std_and_a_wider_tail_counts_more_rounds() -> None:
    (one,) = report.summarise(LLR[:6], tail_fraction=0.5)  # rounds > 150: 200, 250, 300
    assert one.tail_mean == pytest.approx((0.99 + 0.5 + 0.7) / 3)
    assert (one.tail_std, one.seeds, one.tail_evals) == (0.0, 1, 3)


def test_unfinished_seed_and_repeated_round_are_refused() -> None:
    with pytest.raises(ValueError, match="different rounds"):
        report.summarise(LLR[:-1])
    with pytest.raises(ValueError, match="round 300 appears twice"):
        report.summarise(LLR + LLR[-1:])


def test_gap_is_llr_minus_mv_with_a_standard_error() -> None:
    (gap,) = report.gaps(report.summarise(LLR + MV + run("sgd", 0, [0.9] * 6)))
    assert (gap.dataset, gap.mode, gap.algorithm, gap.baseline) == ("mnist", 4, "llr", "mv")
    assert gap.difference == pytest.approx(0.20) and gap.seeds == 2
    # sqrt(0.045 / 2 + 0.005 / 2): mv's tail means 0.50, 0.60 have variance 0.005
    assert gap.stderr == pytest.approx(math.sqrt(0.025))
    assert gap.per_seed == pytest.approx((0.10, 0.30))  # seed by seed: llr ahead in both
    (reverse,) = report.gaps(report.summarise(LLR + MV), algorithm="mv", baseline="llr")
    assert reverse.difference == pytest.approx(-0.20)
    (single,) = report.gaps(report.summarise(LLR[:6] + MV[:6]))
    assert math.isnan(single.stderr)  # one seed says nothing about the spread
    assert report.gaps(report.summarise(LLR)) == []  # no mv to compare with


def test_markdown_tables_hold_the_numbers() -> None:
    summaries = report.summarise(LLR + MV)
    text = report.markdown_table(summaries, report.gaps(summaries))
    assert "| mnist | 4 | llr | 75.00 ± 21.21 | 60.00–90.00 | 2 | 2 | 85.00 | 300 |" in text
    assert "| mnist | 4 | mv | 55.00 ± 7.07 | 50.00–60.00 | 2 | 2 | 60.00 | 300 |" in text
    assert "| mnist | 4 | +20.00 ± 15.81 | +10.00, +30.00 | 2 |" in text
    assert "last third" in text
    single = report.summarise(LLR[:6] + MV[:6])
    single_text = report.markdown_table(single, report.gaps(single))
    assert "| mnist | 4 | +10.00 ± n/a | +10.00 | 1 |" in single_text
    assert "−" not in report.markdown_table(summaries, [])  # no gap table without gaps


def write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def test_read_rows_parses_numbers(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ACCURACY_COLUMNS)  # as the runner writes it
        writer.writeheader()
        writer.writerows(LLR)
    rows = report.read_rows(path)
    assert rows == LLR
    assert type(rows[0]["mode"]) is int and type(rows[0]["accuracy"]) is float
    weights = write_csv(tmp_path / "w.csv", WEIGHT_COLUMNS, [["mnist", 4, 0, 50, 14, 904, 2.5]])
    assert report.read_rows(weights) == [
        {"dataset": "mnist", "mode": 4, "seed": 0, "round": 50, "client": 14, "batch_size": 904,
         "mean_abs_weight": 2.5}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (["mnist", "4", "llr", "0", "x", "0.5", "0.1"], "line 3: round='x' is not a number"),
        (["mnist", "4", "llr", "0", "50", "0.5"], "line 3: no value for 'loss'"),
        (["mnist", "4", "llr", "0", "50", "0.5", "0.1", "9"], "line 3: more fields"),
        (["mnist", "4", "llr", "0", "50", "93.1", "0.1"], "line 3: accuracy=93.1 is outside"),
        (["mnist", "4", "llr", "0", "50", "", "0.1"], "line 3: accuracy='' is not a number"),
    ],
)
def test_read_rows_names_file_and_line_of_a_bad_row(
    tmp_path: Path, line: list[str], message: str
) -> None:
    good = ["mnist", "4", "llr", "0", "10", "0.5", "0.1"]
    path = write_csv(tmp_path / "accuracy.csv", ACCURACY_COLUMNS, [good, line])
    with pytest.raises(ValueError, match=f"accuracy.csv, {message}"):
        report.read_rows(path)


def test_read_rows_refuses_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "accuracy.csv").write_text("")
    with pytest.raises(ValueError, match="accuracy.csv: empty file"):
        report.read_rows(tmp_path / "accuracy.csv")


def test_mode_labels_come_from_the_config() -> None:
    assert report.plan_label([4, 4, 904]) == "2 x 4 + 1 x 904"
    assert report.batch_mode_labels() == {
        1: "mode 1: 15 x 64",
        2: "mode 2: 9 x 4 + 6 x 154",
        3: "mode 3: 12 x 4 + 3 x 304",
        4: "mode 4: 14 x 4 + 1 x 904",
    }


def weight_rows() -> list[dict[str, Any]]:
    """Mode 4 in miniature: clients 0, 1 at batch 4 and client 2 at batch 904, seed 0 only."""
    weights = {0: [0.1, 0.2, 0.3], 1: [0.1, 0.3, 0.5], 2: [1.0, 2.0, 4.0]}
    return [
        {"dataset": "mnist", "mode": 4, "seed": 0, "round": r, "client": c,
         "batch_size": 904 if c == 2 else 4, "mean_abs_weight": w}
        for c, ws in weights.items() for r, w in zip((30, 60, 90), ws, strict=True)
    ]  # fmt: skip


def test_weight_series_and_tail_table() -> None:
    rows = weight_rows()
    series = report_weights.weight_series(list(reversed(rows)), "mnist", 4, 0)
    assert series[1] == ([30, 60, 90], [0.1, 0.3, 0.5])  # sorted by round
    assert report_weights.client_batch_sizes(rows, "mnist", 4, 0) == {0: 4, 1: 4, 2: 904}
    # tail of 90 rounds: round 90 only, so the means are the last values; median client 1
    assert report_weights.weight_tail_means(rows, "mnist", 4, 0) == {0: 0.3, 1: 0.5, 2: 4.0}
    text = report_weights.weight_table(rows, "mnist", 4, 0)
    assert "| 2 | 904 | 4.000 | 8.00 |" in text and "| 0 | 4 | 0.300 | 0.60 |" in text
    with pytest.raises(ValueError, match=r"no weight rows for \('mnist', 4, 1\)"):
        report_weights.weight_series(rows, "mnist", 4, 1)
