"""Tables for `signfed experiment`: read the runner's CSV files, summarise, render Markdown.

Pure functions over rows; the per-client weight tables live in signfed.report_weights,
the figures in signfed.figures. Single evaluations of constant-lr signSGD swing by 10-20
points from one evaluation to the next, so every comparison here is on tail means (a
run's mean accuracy over the last third of its rounds) taken over seeds, never on one
evaluation.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from common.algorithms import available

Row = dict[str, Any]

INT_COLUMNS = frozenset({"mode", "seed", "round", "client", "batch_size"})
FLOAT_COLUMNS = frozenset({"accuracy", "loss", "mean_abs_weight"})
ALGORITHM_ORDER = available()  # the registry's: the paper's method first, then baselines
TAIL_FRACTION = 1 / 3


def read_rows(path: str | Path) -> list[Row]:
    """The rows of accuracy.csv or weights.csv, numeric columns parsed to int/float."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ValueError(f"{path.name}: empty file, expected a header row")
        return [_parse(raw, f"{path.name}, line {reader.line_num}") for raw in reader]


def _parse(raw: Mapping[Any, Any], where: str) -> Row:
    if None in raw:  # DictReader files surplus fields under the key None
        raise ValueError(f"{where}: more fields than the header's {len(raw) - 1}")
    row: Row = {}
    for key, text in raw.items():
        if text is None:
            raise ValueError(f"{where}: no value for {key!r} (fewer fields than the header)")
        try:
            row[key] = (
                int(text) if key in INT_COLUMNS else float(text) if key in FLOAT_COLUMNS else text
            )
        except ValueError:
            raise ValueError(f"{where}: {key}={text!r} is not a number") from None
    # A file of percentages would otherwise plot as 9000%.
    if "accuracy" in row and not 0.0 <= row["accuracy"] <= 1.0:
        raise ValueError(f"{where}: accuracy={row['accuracy']} is outside [0, 1]")
    return row


def algorithm_key(name: str) -> tuple[int, str]:
    """Sort key: the registry's order (llr, mv, sgd), then any other name alphabetically."""
    known = name in ALGORITHM_ORDER
    return (ALGORITHM_ORDER.index(name) if known else len(ALGORITHM_ORDER), name)


def in_tail(round_: int, max_round: int, tail_fraction: float = TAIL_FRACTION) -> bool:
    """round > max_round * (1 - tail_fraction), exactly: 1/3 of 300 rounds starts after 200."""
    if not 0.0 < tail_fraction <= 1.0:
        raise ValueError(f"tail_fraction must be in (0, 1], got {tail_fraction}")
    # Fraction, not float: 10 * (1 - 0.3) is 6.999... in floats, which lets round 7 in.
    share = Fraction(tail_fraction).limit_denominator(10_000)
    return round_ > max_round * (1 - share)


@dataclass(frozen=True)
class Summary:
    """One (dataset, mode, algorithm): accuracies in [0, 1], statistics over seeds."""

    dataset: str
    mode: int
    algorithm: str
    tail_mean: float  # mean over seeds of each seed's mean accuracy in the tail
    tail_std: float  # sample std over seeds of those tail means; 0 for one seed
    tail_min: float
    tail_max: float
    seeds: int
    tail_evals: int  # evaluations per seed in the tail (the fewest, if seeds differ)
    final_mean: float  # mean over seeds of the last evaluation's accuracy
    max_round: int
    tail_fraction: float = TAIL_FRACTION
    by_seed: tuple[tuple[int, float], ...] = ()  # (seed, its tail mean), by seed


def summarise(
    rows: Iterable[Mapping[str, Any]], tail_fraction: float = TAIL_FRACTION
) -> list[Summary]:
    """Per (dataset, mode, algorithm), sorted so; seeds of a group must end at one round."""
    runs: dict[tuple[str, int, str], dict[int, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in rows:
        key = (row["dataset"], row["mode"], row["algorithm"])
        evaluations = runs[key][row["seed"]]
        if row["round"] in evaluations:
            raise ValueError(f"{key} seed {row['seed']}: round {row['round']} appears twice")
        evaluations[row["round"]] = row["accuracy"]
    ordered = sorted(runs, key=lambda k: (k[0], k[1], algorithm_key(k[2])))
    return [_summary(key, runs[key], tail_fraction) for key in ordered]


def _summary(
    key: tuple[str, int, str], seeds: Mapping[int, Mapping[int, float]], tail_fraction: float
) -> Summary:
    last = {seed: max(evaluations) for seed, evaluations in seeds.items()}
    if len(set(last.values())) > 1:
        # An unfinished seed would pull the tail toward earlier, worse rounds.
        raise ValueError(f"{key}: seeds end at different rounds {last}; is a run unfinished?")
    max_round = next(iter(last.values()))
    tails = [
        [acc for r, acc in evaluations.items() if in_tail(r, max_round, tail_fraction)]
        for evaluations in seeds.values()
    ]
    means = [statistics.fmean(tail) for tail in tails]
    return Summary(
        by_seed=tuple(sorted(zip(seeds, means, strict=True))),
        dataset=key[0],
        mode=key[1],
        algorithm=key[2],
        tail_mean=statistics.fmean(means),
        tail_std=statistics.stdev(means) if len(means) > 1 else 0.0,
        tail_min=min(means),
        tail_max=max(means),
        seeds=len(means),
        tail_evals=min(len(tail) for tail in tails),
        final_mean=statistics.fmean(evaluations[max_round] for evaluations in seeds.values()),
        max_round=max_round,
        tail_fraction=tail_fraction,
    )


@dataclass(frozen=True)
class Gap:
    """algorithm minus baseline, tail means, for one (dataset, mode); accuracy units."""

    dataset: str
    mode: int
    algorithm: str
    baseline: str
    difference: float  # > 0: algorithm is more accurate
    # sqrt(s_a^2/n_a + s_b^2/n_b); nan when a side has one seed: its spread is unknown,
    # and 0 would read as "certain".
    stderr: float
    seeds: int  # the fewer of the two sides' seeds
    # Seed by seed (same seed: same initial model and minibatches), the paired
    # differences: whether the gap holds in every seed, which the means cannot say.
    per_seed: tuple[float, ...] = ()


def gaps(
    summaries: Iterable[Summary], *, algorithm: str = "llr", baseline: str = "mv"
) -> list[Gap]:
    """algorithm - baseline per (dataset, mode) where both were run."""
    by_key = {(s.dataset, s.mode, s.algorithm): s for s in summaries}
    out = []
    for dataset, mode, name in sorted(by_key):
        other = by_key.get((dataset, mode, baseline))
        if name != algorithm or other is None:
            continue
        this = by_key[(dataset, mode, name)]
        one_seed = min(this.seeds, other.seeds) < 2
        variance = this.tail_std**2 / this.seeds + other.tail_std**2 / other.seeds
        out.append(
            Gap(
                dataset=dataset,
                mode=mode,
                algorithm=algorithm,
                baseline=baseline,
                difference=this.tail_mean - other.tail_mean,
                stderr=math.nan if one_seed else math.sqrt(variance),
                seeds=min(this.seeds, other.seeds),
                per_seed=_paired(this, other),
            )
        )
    return out


def _paired(this: Summary, other: Summary) -> tuple[float, ...]:
    theirs = dict(other.by_seed)
    return tuple(mean - theirs[seed] for seed, mean in this.by_seed if seed in theirs)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def fraction_words(tail_fraction: float) -> str:
    share = Fraction(tail_fraction).limit_denominator(10_000)
    return "third" if share == Fraction(1, 3) else f"{share} share"


def markdown_table(summaries: Sequence[Summary], gaps: Sequence[Gap]) -> str:
    """The accuracy table, and a table of gaps under it when there are any."""
    words = fraction_words(summaries[0].tail_fraction if summaries else TAIL_FRACTION)
    lines = [
        f"Tail mean: each seed's mean test accuracy over the evaluations in the last {words} "
        "of its rounds, then mean ± sample std over seeds; min–max over seeds' tail means; "
        "final: the last evaluation, mean over seeds.",
        "",
        "| dataset | mode | algorithm | tail mean (%) | min–max (%) | seeds | tail evals "
        "| final (%) | rounds |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.dataset} | {s.mode} | {s.algorithm} | {_pct(s.tail_mean)} ± {_pct(s.tail_std)} "
            f"| {_pct(s.tail_min)}–{_pct(s.tail_max)} | {s.seeds} | {s.tail_evals} "
            f"| {_pct(s.final_mean)} | {s.max_round} |"
        )
    if gaps:
        lines += ["", gap_table(gaps).rstrip("\n")]
    return "\n".join(lines) + "\n"


def gap_table(gaps: Sequence[Gap]) -> str:
    """The gaps of one algorithm over one baseline, as a Markdown table with its legend."""
    lines: list[str] = []
    if gaps:
        first = gaps[0]
        lines += [
            f"{first.algorithm} − {first.baseline}, tail means, in points; ± one standard "
            "error, sqrt(std_a²/n_a + std_b²/n_b) (n/a with one seed).",
            "",
            f"| dataset | mode | {first.algorithm} − {first.baseline} (points) | per seed "
            "| seeds |",
            "|---|---:|---:|---:|---:|",
        ]
        for g in gaps:
            spread = "n/a" if math.isnan(g.stderr) else f"{100 * g.stderr:.2f}"
            paired = ", ".join(f"{100 * d:+.2f}" for d in g.per_seed)
            lines.append(
                f"| {g.dataset} | {g.mode} | {100 * g.difference:+.2f} ± {spread} | {paired} "
                f"| {g.seeds} |"
            )
    return "\n".join(lines) + "\n" if lines else ""


def plan_label(batch_sizes: Sequence[int]) -> str:
    """(4,)*14 + (904,) -> '14 x 4 + 1 x 904', sizes in order of first appearance."""
    counts: dict[int, int] = {}
    for size in batch_sizes:
        counts[size] = counts.get(size, 0) + 1
    return " + ".join(f"{n} x {size}" for size, n in counts.items())


def batch_mode_labels() -> dict[int, str]:
    """{1: 'mode 1: 15 x 64', ...} from the modes the config defines."""
    # Imported here: common.batch_plan pulls common.config and so numpy, and reading a
    # CSV should not.
    from common.batch_plan import BATCH_MODES

    return {mode: f"mode {mode}: {plan_label(sizes)}" for mode, sizes in BATCH_MODES.items()}
