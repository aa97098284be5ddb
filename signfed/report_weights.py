"""The IT-signSGD weight-per-client tables and series of the batch-modes report.

From weights.csv (every client's mean |w| at each evaluation of an llr run): the series
the weights figure draws, and the Markdown table of tail means next to batch sizes that
shows whether larger-batch clients earn larger weights. Tails as in signfed.report.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from signfed.report import TAIL_FRACTION, fraction_words, in_tail


def _run_rows(
    weight_rows: Iterable[Mapping[str, Any]], dataset: str, mode: int, seed: int
) -> list[Mapping[str, Any]]:
    rows = list(weight_rows)
    chosen = [r for r in rows if (r["dataset"], r["mode"], r["seed"]) == (dataset, mode, seed)]
    if not chosen:
        have = sorted({(r["dataset"], r["mode"], r["seed"]) for r in rows})
        raise ValueError(f"no weight rows for ({dataset!r}, {mode}, {seed}); have {have}")
    return chosen


def weight_series(
    weight_rows: Iterable[Mapping[str, Any]], dataset: str, mode: int, seed: int
) -> dict[int, tuple[list[int], list[float]]]:
    """{client: (rounds, mean |w|)} for one llr run, clients and rounds ascending."""
    points: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for r in _run_rows(weight_rows, dataset, mode, seed):
        points[r["client"]].append((r["round"], r["mean_abs_weight"]))
    return {
        client: ([r for r, _ in sorted(p)], [w for _, w in sorted(p)])
        for client, p in sorted(points.items())
    }


def client_batch_sizes(
    weight_rows: Iterable[Mapping[str, Any]], dataset: str, mode: int, seed: int
) -> dict[int, int]:
    """{client: batch size} for one run, from its weight rows."""
    rows = _run_rows(weight_rows, dataset, mode, seed)
    return {r["client"]: r["batch_size"] for r in sorted(rows, key=lambda r: r["client"])}


def weight_tail_means(
    weight_rows: Iterable[Mapping[str, Any]],
    dataset: str,
    mode: int,
    seed: int,
    *,
    tail_fraction: float = TAIL_FRACTION,
) -> dict[int, float]:
    """{client: mean |w| over the evaluations in the run's tail}."""
    series = weight_series(weight_rows, dataset, mode, seed)
    max_round = max(rounds[-1] for rounds, _ in series.values())
    return {
        client: statistics.fmean(
            w for r, w in zip(rounds, values, strict=True) if in_tail(r, max_round, tail_fraction)
        )
        for client, (rounds, values) in series.items()
    }


def weight_table(
    weight_rows: Sequence[Mapping[str, Any]],
    dataset: str,
    mode: int,
    seed: int,
    *,
    tail_fraction: float = TAIL_FRACTION,
) -> str:
    """Markdown: per client its batch size, tail mean |w|, and that over the median client's."""
    means = weight_tail_means(weight_rows, dataset, mode, seed, tail_fraction=tail_fraction)
    sizes = client_batch_sizes(weight_rows, dataset, mode, seed)
    median = statistics.median(means.values())
    words = fraction_words(tail_fraction)
    lines = [
        f"{dataset}, mode {mode}, seed {seed}: mean |w| over coordinates, averaged over the "
        f"evaluations in the last {words} of the rounds.",
        "",
        "| client | batch size | mean \\|w\\| | / median client |",
        "|---:|---:|---:|---:|",
    ]
    for client, mean in means.items():
        ratio = f"{mean / median:.2f}" if median else "n/a"
        lines.append(f"| {client} | {sizes[client]} | {mean:.3f} | {ratio} |")
    return "\n".join(lines) + "\n"
