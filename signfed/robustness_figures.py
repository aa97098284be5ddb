"""Figures of `signfed experiment robustness` (signfed/robustness_report.py draws them).

heatmap.png  per partition one panel: defences x (attackers, attack), colour and
             number the tail accuracy (%), mean over seeds; blank where no run finished
curves.png   accuracy vs round with the fewest attackers > 0: a column per attack (and
             one without attack), a line per defence, mean over seeds. Float defences
             (30 rounds of local epochs) and sign defences (300 signed steps) run on
             different clocks, so they get a row each per partition, each with its own
             round axis: one shared or a second top axis would squeeze one family into
             a tenth of the width, or leave a reader to guess which axis a line uses
weights.png  llr and fd: every client's mean signed weight vs round, attackers red and
             honest clients grey; one panel per (defence, attack), iid, the fewest
             attackers > 0, the lowest seed; the attacks negate, random and alie if run

As signfed/figures.py: matplotlib is imported only to draw (figures._new_figure), each
function saves a PNG and returns its Figure, or None when it has nothing to draw.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from signfed.figures import TITLE_LEGEND_INCHES, _colour, _new_figure, algorithm_label
from signfed.report import Row
from signfed.robustness import NO_ATTACK
from signfed.robustness_config import RobustnessConfig, is_sign
from signfed.robustness_report import Cell, column_label, columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The robust rules' colours: common/robust registers functions, not figure styles, and
# the algorithms' own (common/algorithms: fedavg purple, llr blue, mv orange) are taken.
RULE_COLOURS = {
    "median": "tab:red",
    "trimmed-mean": "tab:brown",
    "median-of-means": "tab:pink",
    "geometric-median": "tab:olive",
    "krum": "tab:cyan",
}
HEAT_CELL_INCHES = (0.7, 0.4)  # one (attackers, attack) x defence cell
HEAT_MARGIN_INCHES = (2.3, 1.3)  # per panel: defence names and colour bar; labels, title
HEAT_MIN_WIDTH_INCHES = 4.8  # a grid of few columns still fits its title
HEAT_TITLE_INCHES = 0.3
CURVE_PANEL_INCHES = (2.6, 2.0)
WEIGHT_PANEL_INCHES = (4.2, 2.8)
WEIGHT_ATTACKS = ("negate", "random", "alie")  # the attacks weights.png shows when run
ATTACKER_COLOUR, HONEST_COLOUR = "tab:red", "0.6"


def defence_colour(defence: str, others: list[str]) -> str:
    """A rule's colour, else the algorithm's (fedavg is the plain mean's)."""
    return RULE_COLOURS.get(defence) or _colour(defence, others)


def defence_label(defence: str) -> str:
    return algorithm_label(defence) if is_sign(defence) or defence == "fedavg" else defence


def plot_heatmap(
    config: RobustnessConfig, tails: Mapping[Cell, Sequence[float]], path: Path
) -> Figure:
    """Tail accuracy (%) of every cell of the grid, mean over its finished seeds."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="0.9")  # no run: light grey
    grid, defences, partitions = columns(config, tails), config.defences, config.partitions
    width = max(HEAT_MIN_WIDTH_INCHES, HEAT_CELL_INCHES[0] * len(grid) + HEAT_MARGIN_INCHES[0])
    panel = HEAT_CELL_INCHES[1] * len(defences) + HEAT_MARGIN_INCHES[1]
    height = panel * len(partitions) + HEAT_TITLE_INCHES
    figure = _new_figure((width, height))
    axes = figure.subplots(len(partitions), 1, squeeze=False).ravel()
    for ax, partition in zip(axes, partitions, strict=True):
        values = np.full((len(defences), len(grid)), np.nan)  # (defences, columns) %
        for i, defence in enumerate(defences):
            for j, (attackers, attack) in enumerate(grid):
                seeds = tails.get((partition, attackers, attack, defence))
                if seeds:
                    values[i, j] = 100 * statistics.fmean(seeds)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            text, colour = ("–", "0.4") if np.isnan(value) else (f"{value:.1f}", _ink(value))
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(grid)), [column_label(c) for c in grid], rotation=45, ha="right")
        ax.set_yticks(range(len(defences)), list(defences))
        ax.tick_params(labelsize=8)
        ax.set_title(partition, fontsize=9)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="tail accuracy (%)")
    figure.suptitle(f"{config.dataset}: tail accuracy (%), mean over seeds", fontsize=10)
    figure.savefig(path, format="png")
    return figure


def _ink(value: float) -> str:
    """Text that reads on viridis: white on its dark low end, black on the rest."""
    return "white" if value < 55 else "black"


def plot_curves(config: RobustnessConfig, rows: Sequence[Row], path: Path) -> Figure | None:
    from matplotlib.ticker import MaxNLocator

    counts = {r["attackers"] for r in rows}
    attacked = sorted(counts - {0})  # the fewest attackers are drawn
    shown = [(0, NO_ATTACK)] if 0 in counts else []
    shown += [(attacked[0], a) for a in config.attacks] if attacked else []
    if not shown:
        return None
    families = [kind for kind in (False, True) if any(is_sign(d) == kind for d in config.defences)]
    panel_rows = [(p, sign) for p in config.partitions for sign in families]
    width, height = CURVE_PANEL_INCHES
    figure = _new_figure((width * len(shown), height * len(panel_rows) + TITLE_LEGEND_INCHES))
    axes = figure.subplots(len(panel_rows), len(shown), sharey=True, squeeze=False)
    curves = _mean_curves(rows)
    others: list[str] = []
    handles: dict[str, Any] = {}
    for (partition, sign), line in zip(panel_rows, axes, strict=True):
        for ax, (attackers, attack) in zip(line, shown, strict=True):
            for defence in (d for d in config.defences if is_sign(d) == sign):
                curve = curves.get((partition, attackers, attack, defence))
                if curve:
                    colour = defence_colour(defence, others)  # dots: a lone evaluation shows
                    (handles[defence],) = ax.plot(
                        *curve, color=colour, linewidth=1.3, marker="o", markersize=2
                    )
            ax.grid(True, alpha=0.3)
            ax.set_ylim(0, 100)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=7)
            ax.set_title(f"{partition}: {column_label((attackers, attack))}", fontsize=8)
            ax.set_xlabel(f"round ({'sign' if sign else 'float'} defences)", fontsize=7)
        line[0].set_ylabel("test accuracy (%)", fontsize=8)
    order = [d for d in config.defences if d in handles]
    figure.legend(
        [handles[d] for d in order],
        [defence_label(d) for d in order],
        loc="outside lower center",
        ncols=min(len(order), 5),
        fontsize=8,
    )
    figure.suptitle(f"{config.dataset}: test accuracy, mean over seeds", fontsize=10)
    figure.savefig(path, format="png")
    return figure


def _mean_curves(rows: Sequence[Row]) -> dict[Cell, tuple[list[int], list[float]]]:
    """{cell: (rounds, mean accuracy % over seeds)}."""
    by_round: dict[Cell, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cell = (r["partition"], r["attackers"], r["attack"], r["defence"])
        by_round[cell][r["round"]].append(100 * r["accuracy"])
    return {
        cell: (sorted(seen), [statistics.fmean(seen[x]) for x in sorted(seen)])
        for cell, seen in by_round.items()
    }


def plot_weights(config: RobustnessConfig, rows: Sequence[Row], path: Path) -> Figure | None:
    attacked = [r for r in rows if r["attackers"] > 0]
    if not attacked:
        return None
    partitions = {r["partition"] for r in attacked}
    partition = "iid" if "iid" in partitions else min(partitions)
    attackers = min(r["attackers"] for r in attacked if r["partition"] == partition)
    chosen = [r for r in attacked if (r["partition"], r["attackers"]) == (partition, attackers)]
    run_attacks = [a for a in config.attacks if any(r["attack"] == a for r in chosen)]
    attacks = [a for a in run_attacks if a in WEIGHT_ATTACKS] or run_attacks[:2]
    defences = [d for d in config.defences if any(r["defence"] == d for r in chosen)]
    width, height = WEIGHT_PANEL_INCHES
    figure = _new_figure((width * len(attacks), height * len(defences) + TITLE_LEGEND_INCHES))
    axes = figure.subplots(len(defences), len(attacks), sharex=True, squeeze=False)
    for line, defence in zip(axes, defences, strict=True):
        for ax, attack in zip(line, attacks, strict=True):
            run = [r for r in chosen if (r["defence"], r["attack"]) == (defence, attack)]
            seed = min((r["seed"] for r in run), default=None)
            _draw_clients(ax, [r for r in run if r["seed"] == seed])
            ax.set_title(f"{defence_label(defence)}, {attack}, seed {seed}", fontsize=9)
        line[0].set_ylabel("mean signed weight", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("round")
    figure.legend(
        handles=[_key_line(ATTACKER_COLOUR, 1.6), _key_line(HONEST_COLOUR, 0.9)],
        labels=[f"attacker (F={attackers})", "honest"],
        loc="outside lower center",
        ncols=2,
    )
    figure.suptitle(f"{config.dataset}, {partition}: weight per client", fontsize=10)
    figure.savefig(path, format="png")
    return figure


def _draw_clients(ax: Any, rows: Sequence[Row]) -> None:
    series: dict[int, list[tuple[int, float]]] = defaultdict(list)
    attacking = {r["client"] for r in rows if r["attacker"]}
    for r in rows:
        series[r["client"]].append((r["round"], r["signed_weight"]))
    ax.axhline(0.0, color="black", linewidth=0.6)
    for client, points in sorted(series.items(), key=lambda kv: kv[0] in attacking):
        rounds, values = zip(*sorted(points), strict=True)
        bad = client in attacking  # attackers drawn last: on top
        colour, width = (ATTACKER_COLOUR, 1.6) if bad else (HONEST_COLOUR, 0.9)
        ax.plot(rounds, values, color=colour, linewidth=width)
    ax.grid(True, alpha=0.3)


def _key_line(colour: str, width: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, linewidth=width)
