"""Figures of `signfed experiment`: accuracy vs round per batch mode, LLR weight per client.

matplotlib is an optional extra and slow to import, so it is imported inside the
functions: `import signfed.figures` costs nothing. Figures are drawn on a bare Figure
with the Agg canvas, never through pyplot: no display backend to choose and no global
list of open figures to leak into. Each function saves a PNG and returns the Figure
so that a caller (or a test) can look at what was drawn.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.algorithms import available, get_algorithm
from signfed import report, report_weights

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING_MATPLOTLIB = "figures need matplotlib: pip install 'signfed[experiments]'"
DPI = 120
PANEL_INCHES = (3.8, 3.2)  # 2x2 is 912 x 864 px: GitHub shows it near full size
TITLE_LEGEND_INCHES = 0.8  # the suptitle and the legend row, whatever the panel count
WEIGHTS_INCHES = (7.6, 4.2)
# Registered algorithms (common/algorithms) draw in their own colour; a float
# baseline is grey and dashed; names a CSV holds but the registry does not, the rest.
BASELINE_COLOUR = "0.35"
OTHER_COLOURS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan")
LARGE_BATCH_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:cyan")


def _new_figure(inches: tuple[float, float]) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc
    figure = Figure(figsize=inches, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # Agg whatever backend pyplot may have picked elsewhere
    return figure


def accuracy_curve(points: Sequence[tuple[int, float]], title: str) -> Figure:
    """One run's test accuracy by round (`signfed local` and `simulate` draw it)."""
    figure = _new_figure(WEIGHTS_INCHES)
    ax = figure.subplots()
    rounds = [r + 1 for r, _ in points]  # rounds done, as the progress lines count
    ax.plot(rounds, [100 * a for _, a in points], marker="o", linewidth=1.6)
    ax.set_xlabel("rounds done")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(y_floor([100 * a for _, a in points]), 100)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return figure


def y_floor(percentages: Sequence[float]) -> float:
    """Lower y limit: the 5th percentile less 2 points, down to a multiple of 5.

    Early rounds (near 10%) would otherwise squash the range where the algorithms differ.
    Never above 90, so at least 10 points show; never below 0.
    """
    if not percentages:
        return 0.0
    values = sorted(percentages)
    low = (
        statistics.quantiles(values, n=20, method="inclusive")[0] if len(values) > 1 else values[0]
    )
    return float(min(90, max(0, 5 * math.floor((low - 2) / 5))))


def _one_dataset(rows: Sequence[Mapping[str, Any]], dataset: str | None) -> str:
    names = sorted({r["dataset"] for r in rows})
    if dataset is None:
        if len(names) != 1:
            raise ValueError(f"rows hold datasets {names}; pass dataset= to choose one")
        return names[0]
    if dataset not in names:
        raise ValueError(f"no rows for dataset {dataset!r}; have {names}")
    return dataset


def _bands(
    rows: Iterable[Mapping[str, Any]],
) -> dict[tuple[int, str], tuple[list[int], list[float], list[float], list[float]]]:
    """{(mode, algorithm): (rounds, mean, min, max)} over seeds, in percent."""
    by_round: dict[tuple[int, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_round[(r["mode"], r["algorithm"])][r["round"]].append(100 * r["accuracy"])
    return {
        key: (
            sorted(rounds),
            [statistics.fmean(rounds[x]) for x in sorted(rounds)],
            [min(rounds[x]) for x in sorted(rounds)],
            [max(rounds[x]) for x in sorted(rounds)],
        )
        for key, rounds in by_round.items()
    }


def algorithm_label(algorithm: str) -> str:
    """The registry's label ("IT-signSGD (llr)"); an unregistered name as it is."""
    return get_algorithm(algorithm).label if algorithm in available() else algorithm


def is_baseline(algorithm: str) -> bool:
    return algorithm in available() and get_algorithm(algorithm).baseline


def _colour(algorithm: str, others: list[str]) -> str:
    if is_baseline(algorithm):
        return BASELINE_COLOUR
    if algorithm in available():
        return get_algorithm(algorithm).colour
    if algorithm not in others:
        others.append(algorithm)
    return OTHER_COLOURS[others.index(algorithm) % len(OTHER_COLOURS)]


def plot_accuracy(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str = "",
    dataset: str | None = None,
    mode_labels: Mapping[int, str] | None = None,
) -> Figure:
    """Test accuracy vs round, one panel per mode, one line per algorithm; saves a PNG.

    A figure shows one dataset: `dataset` picks it, and may be left out when the rows
    hold only one (ValueError otherwise). Lines are the mean over seeds at each
    evaluation round, bands the min..max over seeds. Four modes are laid out 2 x 2, any
    other count in a row. `mode_labels` defaults to report.batch_mode_labels().
    """
    dataset = _one_dataset(rows, dataset)
    chosen = [r for r in rows if r["dataset"] == dataset]
    labels = report.batch_mode_labels() if mode_labels is None else mode_labels
    modes = sorted({r["mode"] for r in chosen})
    nrows, ncols = (2, 2) if len(modes) == 4 else (1, len(modes))
    # one panel alone is drawn twice as wide: the title and the legend need the room
    width = PANEL_INCHES[0] * max(ncols, 2)
    figure = _new_figure((width, PANEL_INCHES[1] * nrows + TITLE_LEGEND_INCHES))
    axes = figure.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    bands = _bands(chosen)
    algorithms = sorted({r["algorithm"] for r in chosen}, key=report.algorithm_key)
    others: list[str] = []
    handles = {}
    for i, (ax, mode) in enumerate(zip(axes, modes, strict=True)):
        for algorithm in algorithms:
            if (mode, algorithm) not in bands:
                continue
            rounds, mean, low, high = bands[(mode, algorithm)]
            colour = _colour(algorithm, others)
            ax.fill_between(rounds, low, high, color=colour, alpha=0.2, linewidth=0)
            (handles[algorithm],) = ax.plot(
                rounds,
                mean,
                color=colour,
                linewidth=1.6,
                linestyle="--" if is_baseline(algorithm) else "-",  # the float reference
            )
        ax.set_title(labels.get(mode, f"mode {mode}"))
        ax.grid(True, alpha=0.3)
        if i // ncols == nrows - 1:
            ax.set_xlabel("round")
        if i % ncols == 0:
            ax.set_ylabel("test accuracy (%)")
    axes[0].set_ylim(y_floor([100 * r["accuracy"] for r in chosen]), 100)  # shared by all
    order = [a for a in algorithms if a in handles]
    figure.legend(
        [handles[a] for a in order],
        [algorithm_label(a) for a in order],
        loc="outside lower center",
        ncols=len(order) if len(order) <= 4 else -(-len(order) // 2),  # two rows past 4
    )
    figure.suptitle(title or f"{dataset}: mean over seeds, band min..max")
    figure.savefig(path, format="png")
    return figure


def plot_weights(
    weight_rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    dataset: str,
    mode: int,
    seed: int,
) -> Figure:
    """Mean |w| per client vs round for one llr run; saves a PNG.

    Clients with a larger batch than the median client are drawn thick, one legend
    entry each; the others share one thin grey entry per batch size.
    """
    series = report_weights.weight_series(weight_rows, dataset, mode, seed)
    sizes = report_weights.client_batch_sizes(weight_rows, dataset, mode, seed)
    median = statistics.median(sizes.values())
    figure = _new_figure(WEIGHTS_INCHES)
    ax = figure.subplots()
    small_sizes = sorted({b for b in sizes.values() if b <= median})
    large = 0
    for client, (rounds, values) in series.items():
        batch = sizes[client]
        if batch > median:
            colour = LARGE_BATCH_COLOURS[large % len(LARGE_BATCH_COLOURS)]
            large += 1
            label = f"client {client}, batch {batch}"
            ax.plot(rounds, values, color=colour, linewidth=2.4, label=label, zorder=3)
        else:
            first = client == min(c for c, b in sizes.items() if b == batch)
            grey = str(0.45 + 0.3 * small_sizes.index(batch) / max(1, len(small_sizes)))
            label = f"batch {batch} clients" if first else "_nolegend_"
            ax.plot(rounds, values, color=grey, linewidth=0.9, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("mean |w| over coordinates")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    batches = [sizes[c] for c in sorted(sizes)]
    plan = report.plan_label(batches)
    ax.set_title(f"{dataset}, mode {mode} ({plan}), seed {seed}: IT-signSGD weight per client")
    figure.savefig(path, format="png")
    return figure
