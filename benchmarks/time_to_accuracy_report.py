"""summary.md and time_to_accuracy.png of benchmarks/time_to_accuracy.py's two steps."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.time_to_accuracy import RATES_MBIT, RTT_MS, TARGET, rounds_dir, rounds_to_target

CLIENTS = 15


def report(out: Path, configs: dict[str, list[str]]) -> None:
    rows = list(csv.DictReader((out / "links.csv").open()))
    reached = {name: rounds_to_target(rounds_dir(out, name)) for name in configs}
    lines = [
        f"# Time to {TARGET:.0%} test accuracy over slow links",
        "",
        "`python -m benchmarks.time_to_accuracy rounds`, then `links` (as root), then "
        "`report`: MNIST `Net`, 15 clients at batch 64, every client behind its own link "
        f"with {RTT_MS:.0f} ms round trip, the server behind 1 Gbit/s. Rounds to "
        f"{TARGET:.0%}: `signfed simulate`, evaluated every 10 rounds (`rounds/`). Seconds "
        "per round: the median of each run's rounds after its first, across the emulated links "
        "(`links.csv`: 3 to 5 rounds a run; 15 clients on this machine's 2 cores).",
        "",
        "| link | algorithm | lr | MB per client per round, each way | s/round | transfer s | "
        "server s | compute + rest s | rounds to target | time to target (s) | vs float32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    times: dict[tuple[str, float], float] = {}
    for row in rows:
        name, mbit, per_round = (
            row["algorithm"],
            float(row["mbit"]),
            float(row["seconds_per_round"]),
        )
        if reached[name] is not None:
            times[(name, mbit)] = reached[name] * per_round  # type: ignore[operator]
    for mbit in RATES_MBIT:
        for row in (r for r in rows if float(r["mbit"]) == mbit):
            name, per_round = row["algorithm"], float(row["seconds_per_round"])
            up = float(row["bytes_up"]) / CLIENTS
            # each client's link carries its update up and the decision down, in turn
            transfer = (up + float(row["bytes_down"]) / CLIENTS) * 8 / (mbit * 1e6)
            server = float(row["aggregate_ms"]) / 1000
            rest = per_round - transfer - server
            lr = configs[name][configs[name].index("--lr") + 1]
            total = times.get((name, mbit))
            base = times.get(("sgd-float32", mbit))
            ratio = f"{base / total:.1f}x" if total and base else "n/a"
            lines.append(
                f"| {mbit:g} Mbit/s | {name} | {lr} | {up / 1e6:.3f} | {per_round:.2f} | "
                f"{transfer:.2f} | {server:.3f} | {rest:.2f} | {reached[name] or 'not reached'} | "
                f"{f'{total:.0f}' if total else 'n/a'} | {ratio} |"
            )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    _figure(out, times, configs)
    print("\n".join(lines))


def _figure(
    out: Path, times: dict[tuple[str, float], float], configs: dict[str, list[str]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(configs)
    for k, name in enumerate(configs):
        xs = [i + k * width for i in range(len(RATES_MBIT))]
        heights = [times.get((name, mbit), 0.0) for mbit in RATES_MBIT]
        axes.bar(xs, heights, width, label=name)
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(RATES_MBIT))])
    axes.set_xticklabels([f"{m:g} Mbit/s" for m in RATES_MBIT])
    axes.set_yscale("log")
    axes.set_ylabel(f"seconds to {TARGET:.0%} test accuracy")
    axes.set_title(f"MNIST, 15 clients, {RTT_MS:.0f} ms RTT: time to {TARGET:.0%}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "time_to_accuracy.png", dpi=120)
