"""Figures of `signfed experiment async` (signfed/async_report.py draws them): test
accuracy against virtual seconds (time.png) or against client updates received
(updates.png), one panel per partition, a line per method and seed (the lowest seed
solid, others thin). As signfed/figures.py: matplotlib only inside the function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signfed.async_experiment_config import AsyncExperimentConfig
from signfed.figures import TITLE_LEGEND_INCHES, _new_figure, y_floor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_INCHES = (4.6, 3.4)
METHOD_COLOURS = {
    "sync": "0.35",
    "sync-deadline": "tab:brown",
    "fedasync-constant": "tab:blue",
    "fedasync-polynomial": "tab:green",
    "fedasync-hinge": "tab:purple",
    "fedbuff": "tab:red",
}
AXIS_LABELS = {"virtual_seconds": "virtual seconds", "updates": "client updates received"}


def plot_accuracy(
    config: AsyncExperimentConfig, rows: Sequence[dict[str, Any]], axis: str, path: Path
) -> Figure:
    lines: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        lines[(r["partition"], r["method"], r["seed"])].append((r[axis], 100 * r["accuracy"]))
    partitions = [p for p in config.partitions if any(k[0] == p for k in lines)]
    width, height = PANEL_INCHES
    figure = _new_figure((width * len(partitions), height + TITLE_LEGEND_INCHES))
    axes = figure.subplots(1, len(partitions), squeeze=False, sharey=True)[0]
    first_seed = min(k[2] for k in lines)
    low = y_floor([a for points in lines.values() for _, a in points])
    handles: dict[str, Any] = {}
    for ax, partition in zip(axes, partitions, strict=True):
        for (where, method, seed), points in sorted(lines.items()):
            if where != partition:
                continue
            main = seed == first_seed
            (line,) = ax.plot(
                *zip(*points, strict=True),
                color=METHOD_COLOURS.get(method, "tab:gray"),
                linewidth=1.4 if main else 0.7,
                alpha=1.0 if main else 0.5,
                marker="o" if main else None,
                markersize=2,
            )
            handles.setdefault(method, line)
        ax.axhline(100 * config.target, color="0.5", linewidth=0.8, linestyle=":")
        ax.set_ylim(low, 100)
        ax.grid(True, alpha=0.3)
        ax.set_title(partition, fontsize=9)
        ax.set_xlabel(AXIS_LABELS[axis], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("test accuracy (%)", fontsize=8)
    order = [m for m in config.methods if m in handles]
    figure.legend(
        [handles[m] for m in order], order, loc="outside lower center", ncols=3, fontsize=8
    )
    figure.suptitle(
        f"{config.dataset}: {config.clients} clients, client {config.straggler} "
        f"{config.straggler_factor:g}x slower (dotted: {100 * config.target:g} %)",
        fontsize=10,
    )
    figure.savefig(path, format="png")
    return figure
