"""The experiment's outputs, from its finished runs (any subset of the grid):

accuracy.csv   one row per evaluation of every finished run
weights.csv    every client's mean |w| at each evaluation of the llr runs
summary.md     tail means over seeds with spread, llr - mv gaps, the weight table
accuracy.png   accuracy vs round, one panel per batch mode (the paper's Figure 1)
weights-mode<m>.png  mean |w| per client of the most heterogeneous mode's llr run
"""

from __future__ import annotations

from pathlib import Path

from signfed.experiment import RunSpec, collect, plan_runs
from signfed.experiment_config import BatchModesConfig
from signfed.report import gaps, markdown_table, read_rows, summarise
from signfed.report_weights import weight_table


def write_report(config: BatchModesConfig, specs: list[RunSpec] | None) -> None:
    out = Path(config.out_dir)
    accuracy_csv, weights_csv, finished = collect(config, specs or plan_runs(config))
    print(f"{finished} finished runs -> {accuracy_csv}, {weights_csv}", flush=True)
    if not finished:
        return
    rows, weight_rows = read_rows(accuracy_csv), read_rows(weights_csv)
    summaries = summarise(rows)
    text = [f"# {config.dataset}: batch modes\n", markdown_table(summaries, gaps(summaries))]
    weights_key = _weights_run(weight_rows)
    if weights_key is not None:
        mode, seed = weights_key
        text += [f"\n## Mean |w| per client, mode {mode}, seed {seed}\n"]
        text += [weight_table(weight_rows, config.dataset, mode, seed)]
    (out / "summary.md").write_text("\n".join(text), encoding="utf-8")
    print(f"table -> {out / 'summary.md'}", flush=True)
    try:
        from signfed.figures import plot_accuracy, plot_weights

        title = f"{config.dataset}: test accuracy, {config.lr_schedule} lr"
        plot_accuracy(rows, out / "accuracy.png", title=title, dataset=config.dataset)
        print(f"figure -> {out / 'accuracy.png'}", flush=True)
        if weights_key is not None:
            mode, seed = weights_key
            path = out / f"weights-mode{mode}.png"
            plot_weights(weight_rows, path, dataset=config.dataset, mode=mode, seed=seed)
            print(f"figure -> {path}", flush=True)
    except ImportError as exc:  # the CSVs and the table stand without figures
        print(f"no figures: {exc}", flush=True)


def _weights_run(weight_rows: list[dict[str, object]]) -> tuple[int, int] | None:
    """(mode, seed) of the weight figure: the highest mode (most heterogeneous) with
    llr weights, its lowest seed."""
    keys = {(int(str(r["mode"])), int(str(r["seed"]))) for r in weight_rows}
    if not keys:
        return None
    top = max(mode for mode, _ in keys)
    return top, min(seed for mode, seed in keys if mode == top)
