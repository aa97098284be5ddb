"""Coin vs abstaining zeros (issue 14), from the finished runs of batch-mode grids.

    python -m signfed.zeros_report --rounds 600 --out docs/results/zeros-mnist \\
        docs/results/zeros-mnist/runs docs/results/batch-modes-mnist/runs

Reads every finished sign-algorithm run under the given run folders (the
`signfed experiment batch-modes` layout: RUNS/<name>/summary.json and metrics), keeps
its evaluations up to --rounds, and writes to --out:

accuracy.csv  one row per evaluation: dataset, mode, algorithm (llr, mv, llr-abstain,
              mv-abstain), seed, round, accuracy, loss, and the run it came from
summary.md    per variant: mean accuracy over rounds 100..R and over the last third,
              mean ± std over seeds; the llr - mv gap under each rule; abstain - coin
accuracy.png  accuracy vs round, one panel per batch mode, the four variants

A longer run counts by its first R rounds: with a constant lr nothing in round t
depends on the run's length, so they are the rounds of an R-round run bit for bit
(checked for mode 4, seed 0: the 1000-round run's round-50 evaluation equals a
50-round run's).
"""

from __future__ import annotations

import argparse
import csv
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from common.batch_plan import BATCH_MODES
from common.config import run_config_from_json
from signfed.experiment import metrics_file, records, variant_of
from signfed.report import Row, fraction_words, gap_table, gaps, markdown_table, summarise

FIELDS = ("dataset", "mode", "algorithm", "seed", "round", "accuracy", "loss", "run")
SIGN_ALGORITHMS = ("llr", "mv")
FROM_ROUND = 100  # the "rounds 100..R" mean starts here: llr's warm-up is over


def _mode_of(batch_sizes: list[int]) -> int | None:
    return next((m for m, sizes in BATCH_MODES.items() if list(sizes) == batch_sizes), None)


def run_rows(directory: Path, rounds: int) -> list[Row]:
    """The evaluations of one finished run up to `rounds`; [] if it does not qualify."""
    path = directory / "summary.json"
    if not path.exists():
        return []
    summary = json.loads(path.read_text(encoding="utf-8"))
    # through RunConfig: settings added since a run was made (--zeros) read as defaults
    run = run_config_from_json(summary.get("config") or {})
    mode = _mode_of(list(run.batch_sizes))
    done = summary.get("error") is None and summary.get("rounds", 0) >= rounds
    constant = run.lr_schedule == "constant"
    sign = run.aggregator.algorithm in SIGN_ALGORITHMS
    if not done or not constant or not sign or mode is None:
        return []
    variant = variant_of(run.aggregator)
    rows = []
    for record in records(metrics_file(directory)):
        evaluated = record["round"] + 1  # the model evaluated is x^{round + 1}
        if "accuracy" in record and evaluated <= rounds:
            rows.append(
                {
                    "dataset": run.dataset,
                    "mode": mode,
                    "algorithm": variant,
                    "seed": run.seed,
                    "round": evaluated,
                    "accuracy": record["accuracy"],
                    "loss": record["loss"],
                    "run": directory.name,
                }
            )
    return rows if rows and rows[-1]["round"] == rounds else []


def gather(run_folders: list[Path], rounds: int) -> list[Row]:
    """Every qualifying run's rows; the same (dataset, mode, variant, seed) twice is an
    error (two folders holding one run would count it twice)."""
    rows: list[Row] = []
    seen: dict[tuple[Any, ...], str] = {}
    for folder in run_folders:
        for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
            found = run_rows(directory, rounds)
            if not found:
                continue
            first = found[0]
            key = (first["dataset"], first["mode"], first["algorithm"], first["seed"])
            if key in seen:
                raise SystemExit(f"error: {key} is both {seen[key]} and {directory}")
            seen[key] = str(directory)
            rows += found
    return rows


def report(rows: list[Row], rounds: int) -> str:
    tail, whole = summarise(rows), summarise(rows, float(Fraction(rounds - FROM_ROUND + 1, rounds)))
    text = [
        f"# Coin vs abstaining zeros, first {rounds} rounds\n",
        "## Last third of the rounds\n",
        markdown_table(tail, gaps(tail)),
        gap_table(gaps(tail, algorithm="llr-abstain", baseline="mv-abstain")),
    ]
    for name in SIGN_ALGORITHMS:
        text.append(gap_table(gaps(tail, algorithm=f"{name}-abstain", baseline=name)))
    text.append(gap_table(gaps(tail, algorithm="llr-abstain-skip", baseline="llr-abstain")))
    text += [
        f"## Rounds {FROM_ROUND}-{rounds} (every evaluation from round {FROM_ROUND} on)\n",
        # the shared table calls its window "the last <share> of its rounds": say which
        markdown_table(whole, gaps(whole)).replace(
            f"the last {fraction_words(whole[0].tail_fraction)} of its rounds",
            f"rounds {FROM_ROUND}-{rounds}",
        ),
        gap_table(gaps(whole, algorithm="llr-abstain", baseline="mv-abstain")),
    ]
    for name in SIGN_ALGORITHMS:
        text.append(gap_table(gaps(whole, algorithm=f"{name}-abstain", baseline=name)))
    text.append(gap_table(gaps(whole, algorithm="llr-abstain-skip", baseline="llr-abstain")))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders of run folders")
    parser.add_argument("--rounds", type=int, default=600, help="rounds compared (R)")
    parser.add_argument("--out", type=Path, required=True, help="where the outputs go")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.runs if not p.is_dir()]
    if missing:
        raise SystemExit(f"error: not a folder: {', '.join(missing)}")
    rows = gather(args.runs, args.rounds)
    if not rows:
        raise SystemExit(f"error: no finished llr/mv run of >= {args.rounds} rounds found")
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "accuracy.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "summary.md").write_text(report(rows, args.rounds), encoding="utf-8")
    print(f"{len(rows)} evaluations -> {args.out / 'accuracy.csv'}, {args.out / 'summary.md'}")
    try:
        from signfed.figures import plot_accuracy

        title = f"{rows[0]['dataset']}: coin vs abstaining zeros, constant lr"
        compared = {r["mode"] for r in rows if "-abstain" in r["algorithm"]}
        drawn = [r for r in rows if r["mode"] in compared]  # modes with both rules
        plot_accuracy(drawn or rows, args.out / "accuracy.png", title=title)
        print(f"figure -> {args.out / 'accuracy.png'}")
    except ImportError as exc:
        print(f"no figure: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
