"""Figures of `signfed experiment`: PNGs of the expected size, panels and legends."""

from __future__ import annotations

import struct
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from signfed import figures

needs_matplotlib = pytest.mark.skipif(find_spec("matplotlib") is None, reason="no matplotlib")
LABELS = ["IT-signSGD (llr)", "signSGD-MV (mv)", "SGD, float32 (sgd)"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def accuracy_rows(modes: tuple[int, ...], dataset: str = "mnist") -> list[dict[str, Any]]:
    """Two seeds per (mode, algorithm), evaluated every 50 of 300 rounds; sgd listed first."""
    return [
        {"dataset": dataset, "mode": mode, "algorithm": algorithm, "seed": seed, "round": r,
         "accuracy": min(1.0, 0.5 + r / 1000 + 0.01 * seed + offset), "loss": 0.1}
        for mode in modes
        for algorithm, offset in (("sgd", 0.1), ("mv", 0.0), ("llr", 0.05))
        for seed in (0, 1)
        for r in range(50, 301, 50)
    ]  # fmt: skip


def weight_rows(sizes: tuple[int, ...], mode: int) -> list[dict[str, Any]]:
    return [
        {"dataset": "mnist", "mode": mode, "seed": 0, "round": r, "client": c, "batch_size": b,
         "mean_abs_weight": b * r / 1000}
        for c, b in enumerate(sizes)
        for r in range(50, 301, 50)
    ]  # fmt: skip


def test_importing_figures_loads_no_matplotlib() -> None:
    code = "import sys, signfed.figures; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # None: import fails
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"pip install 'signfed\[experiments\]'"):
        figures.plot_accuracy(accuracy_rows((1,)), tmp_path / "a.png")


def test_y_floor_is_the_fifth_percentile_less_two_points_on_a_multiple_of_five() -> None:
    assert figures.y_floor([10.0] + [93.0] * 99) == 90.0  # one early 10% does not count
    assert figures.y_floor([float(x) for x in range(1, 101)]) == 0.0  # 5th pct 5.95
    assert figures.y_floor([float(x) for x in range(50, 101)]) == 50.0  # 5th pct 52.5
    assert figures.y_floor([99.9, 100.0]) == 90.0  # always 10 points to see
    assert figures.y_floor([]) == 0.0


@needs_matplotlib
def test_four_modes_make_a_two_by_two_png(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.png"
    figure = figures.plot_accuracy(accuracy_rows((4, 2, 1, 3)), path)
    assert png_size(path) == (912, 864)  # 2 x 3.8 by 2 x 3.2 + 0.8 inches at 120 dpi
    assert [ax.get_title() for ax in figure.axes] == [
        "mode 1: 15 x 64",
        "mode 2: 9 x 4 + 6 x 154",
        "mode 3: 12 x 4 + 3 x 304",
        "mode 4: 14 x 4 + 1 x 904",
    ]
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == LABELS  # llr first
    # lowest accuracy 55%: 5th percentile about 55.4, less 2, down to 50
    assert all(ax.get_ylim() == (50.0, 100.0) for ax in figure.axes)
    llr, mv, sgd = figure.axes[0].lines  # drawn llr first although the rows list sgd first
    # mean of seeds 0 and 1: 100 * (0.5 + r / 1000 + 0.05) + 0.5
    assert list(llr.get_ydata()) == pytest.approx([60.5, 65.5, 70.5, 75.5, 80.5, 85.5])
    assert sgd.get_linestyle() == "--" and mv.get_color() == "tab:orange"
    assert [ax.get_xlabel() for ax in figure.axes] == ["", "", "round", "round"]


@needs_matplotlib
def test_other_mode_counts_make_a_row_and_one_dataset_is_chosen(tmp_path: Path) -> None:
    rows = accuracy_rows((1, 2, 3)) + accuracy_rows((1,), dataset="digits")
    with pytest.raises(ValueError, match=r"datasets \['digits', 'mnist'\]; pass dataset="):
        figures.plot_accuracy(rows, tmp_path / "a.png")
    path = tmp_path / "row.png"
    labels = {1: "one", 2: "two"}
    figure = figures.plot_accuracy(rows, path, dataset="mnist", title="t", mode_labels=labels)
    assert png_size(path) == (1368, 480)  # 3 x 3.8 by 3.2 + 0.8 inches
    assert [ax.get_title() for ax in figure.axes] == ["one", "two", "mode 3"]
    assert figure.get_suptitle() == "t"
    other = [dict(r, algorithm="ef-sign") for r in accuracy_rows((1,)) if r["algorithm"] == "mv"]
    figure = figures.plot_accuracy(accuracy_rows((1,)) + other, tmp_path / "one.png")
    assert len(figure.axes) == 1
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [*LABELS, "ef-sign"]


@needs_matplotlib
def test_weights_highlight_the_large_batch_client(tmp_path: Path) -> None:
    path = tmp_path / "weights.png"
    figure = figures.plot_weights(
        weight_rows((4,) * 14 + (904,), mode=4), path, dataset="mnist", mode=4, seed=0
    )
    assert png_size(path) == (912, 504)
    (ax,) = figure.axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["batch 4 clients", "client 14, batch 904"]
    assert [line.get_linewidth() for line in ax.lines] == [0.9] * 14 + [2.4]
    assert ax.get_ylabel() == "mean |w| over coordinates"
    assert "14 x 4 + 1 x 904" in ax.get_title()
    figure = figures.plot_weights(
        weight_rows((4,) * 9 + (154,) * 6, mode=2), path, dataset="mnist", mode=2, seed=0
    )
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert texts == ["batch 4 clients"] + [f"client {c}, batch 154" for c in range(9, 15)]
    figure = figures.plot_weights(weight_rows((64,) * 15, 1), path, dataset="mnist", mode=1, seed=0)
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["batch 64 clients"]
