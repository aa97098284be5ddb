"""`signfed experiment async`' report: the finished runs (any subset) as

    accuracy.csv   partition, method, seed, updates, virtual_seconds, accuracy, loss
    final.csv      per run: final and best accuracy, and when it first reached --target
                   (client updates received and virtual seconds; empty: never)
    summary.md     per partition, methods x (time to target, updates to target, final)
    time.png, updates.png   accuracy against virtual time and against updates

A sync round's updates are the members in it (the deadline's late members' work is not
counted as an update: it never reached the model), so the two x axes compare the same
quantities for every method.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from signfed.async_experiment import AsyncRunSpec, plan_runs
from signfed.async_experiment_config import AsyncExperimentConfig
from signfed.grid import is_finished, metrics_file, records
from signfed.robustness_report import write_csv

Row = dict[str, Any]
ACCURACY_FIELDS = ("partition", "method", "seed", "updates", "virtual_seconds", "accuracy", "loss")
FINAL_FIELDS = (
    "partition", "method", "seed", "updates", "virtual_seconds", "final_accuracy",
    "best_accuracy", "updates_to_target", "seconds_to_target", "download_bytes",
    "delta_download_bytes",
)  # fmt: skip


def curve(spec: AsyncRunSpec) -> list[Row]:
    """A finished run's evaluations, each with the updates received so far."""
    rows, updates = [], 0
    for record in records(metrics_file(spec.directory)):
        updates += 1 if spec.asynchronous else int(record["clients"])
        if "accuracy" in record:
            rows.append(
                {
                    "partition": spec.partition, "method": spec.method, "seed": spec.seed,
                    "updates": updates, "virtual_seconds": record["virtual_seconds"],
                    "accuracy": record["accuracy"], "loss": record["loss"],
                }
            )  # fmt: skip
    return rows


def final_row(spec: AsyncRunSpec, points: Sequence[Row], target: float) -> Row:
    """Its end, when it reached `target`, and (asynchronous runs) the mean bytes of the
    model download after an update: the full model, and the exact delta."""
    reached = next((p for p in points if p["accuracy"] >= target), None)
    last = points[-1]
    downloads: dict[str, Any] = {"download_bytes": "", "delta_download_bytes": ""}
    if spec.asynchronous:
        summary = json.loads((spec.directory / "summary.json").read_text(encoding="utf-8"))
        updates = spec.run.rounds
        first = spec.run.num_clients * 4 * summary["num_params"]  # everyone's first fetch
        downloads = {
            "download_bytes": round((summary["bytes_down"] - first) / updates),
            "delta_download_bytes": round(summary["bytes_down_delta"] / updates),
        }
    return downloads | {
        "partition": spec.partition, "method": spec.method, "seed": spec.seed,
        "updates": last["updates"], "virtual_seconds": last["virtual_seconds"],
        "final_accuracy": last["accuracy"],
        "best_accuracy": max(p["accuracy"] for p in points),
        "updates_to_target": reached["updates"] if reached else "",
        "seconds_to_target": reached["virtual_seconds"] if reached else "",
    }  # fmt: skip


def _median(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if v != ""]
    return statistics.median(present) if present else None


def _downloads(runs: Sequence[Row]) -> str:
    full = _median(r["download_bytes"] for r in runs)
    delta = _median(r["delta_download_bytes"] for r in runs)
    if full is None or delta is None:
        return "-"  # a synchronous run downloads the decided update, not a model
    return f"{full / 1e3:,.0f} / {delta / 1e3:,.0f}"


def summary_markdown(config: AsyncExperimentConfig, finals: Sequence[Row]) -> str:
    target = f"{100 * config.target:g} %"
    lines = [
        f"# {config.dataset}: {config.clients} clients, client {config.straggler} "
        f"{config.straggler_factor:g}x slower, speeds lognormal (sigma {config.speed_spread:g})",
        "",
        "Medians over the seeds that finished; a time or count is left out by a seed that",
        f"never reached {target}.",
    ]
    for partition in config.partitions:
        rows = [r for r in finals if r["partition"] == partition]
        if not rows:
            continue
        lines += [
            "",
            f"## {partition}",
            "",
            f"| method | seeds | virtual s to {target} | updates to {target} | final (%) "
            "| best (%) | virtual s at the end | download per update, full / delta (kB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for method in config.methods:
            runs = [r for r in rows if r["method"] == method]
            if not runs:
                continue
            seconds, updates = (
                _median(r[k] for r in runs) for k in ("seconds_to_target", "updates_to_target")
            )
            cells = [
                method, str(len(runs)),
                "never" if seconds is None else f"{seconds:,.0f}",
                "never" if updates is None else f"{updates:,.0f}",
                f"{100 * _median(r['final_accuracy'] for r in runs):.2f}",  # type: ignore[operator]
                f"{100 * _median(r['best_accuracy'] for r in runs):.2f}",  # type: ignore[operator]
                f"{_median(r['virtual_seconds'] for r in runs):,.0f}",
                _downloads(runs),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(config: AsyncExperimentConfig, specs: list[AsyncRunSpec] | None) -> None:
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    accuracy: list[Row] = []
    finals: list[Row] = []
    for spec in specs or plan_runs(config):
        if is_finished(spec.simulation):
            points = curve(spec)
            accuracy += points
            if points:
                finals.append(final_row(spec, points, config.target))
    write_csv(out / "accuracy.csv", ACCURACY_FIELDS, accuracy)
    write_csv(out / "final.csv", FINAL_FIELDS, finals)
    print(f"{len(finals)} finished runs -> {out}/accuracy.csv, final.csv", flush=True)
    if not finals:
        return
    (out / "summary.md").write_text(summary_markdown(config, finals), encoding="utf-8")
    print(f"table -> {out / 'summary.md'}", flush=True)
    try:
        from signfed.async_figures import plot_accuracy
    except ImportError as exc:
        print(f"no figures: {exc}", flush=True)
        return
    for name, axis in (("time.png", "virtual_seconds"), ("updates.png", "updates")):
        try:
            plot_accuracy(config, accuracy, axis, out / name)
        except ImportError as exc:  # matplotlib missing: the CSVs and table stand
            print(f"no figures: {exc}", flush=True)
            return
        print(f"figure -> {out / name}", flush=True)
