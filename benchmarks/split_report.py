"""The split-learning comparison's tables and figures, from its committed runs:
`python -m benchmarks.split_report [--runs docs/results/split/runs]`.

Reads each run's summary.json and metrics.jsonl.gz (docs/results/split/run.sh wrote
them) and writes, next to the runs: final.csv, accuracy.csv (accuracy at each
evaluation against epochs and bytes per client), summary.md (the table the README
quotes) and accuracy_epochs.png / accuracy_bytes.png. An epoch is one pass over the
training data: a round of split or FedAvg (one local epoch per client), or 125 rounds
of signSGD (4,000 examples per client at batch 32).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "one-client-vanilla": "split, vanilla, 1 client",
    "vanilla": "split, vanilla (SplitNN, clients in turn)",
    "ushaped": "split, U-shaped (clients in turn)",
    "splitfed": "split, SplitFed (SFLV1)",
    "splitfed2": "split, SplitFed (SFLV2)",
    "splitfed2-lr0.005": "split, SplitFed (SFLV2), lr 0.005",
    "splitfed-float16": "split, SplitFed, float16 at the cut",
    "splitfed-conv1": "split, SplitFed, cut after conv1",
    "splitfed-fc1": "split, SplitFed, cut after fc1",
    "fedavg": "FedAvg",
    "llr": "IT-signSGD (llr)",
    "mv": "signSGD-MV (mv)",
}
ORDER = list(LABELS)
TRAIN_EXAMPLES = 60_000


def load(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((run / "summary.json").read_text())
    with gzip.open(run / "metrics.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f]
    return summary, records


def epochs_of(summary: dict[str, Any], round_index: int) -> float:
    """Passes over the training data once round `round_index` has closed."""
    config = summary["config"]
    if summary["algorithm"] in ("split", "fedavg"):
        return float(round_index + 1) * config["local_epochs"]
    per_round = sum(config["batch_sizes"]) or 64 * config["num_clients"]
    return (round_index + 1) * per_round / TRAIN_EXAMPLES


def rows(runs: Path) -> list[dict[str, Any]]:
    table = []
    for name in sorted((p.name for p in runs.iterdir() if p.is_dir()), key=ORDER.index):
        summary, records = load(runs / name)
        clients = summary["config"]["num_clients"]
        epochs = epochs_of(summary, records[-1]["round"])
        points, total = [], 0
        for r in records:
            total += r["bytes_up"] + r["bytes_down"]
            if "accuracy" in r:
                points.append((epochs_of(summary, r["round"]), total / clients, r["accuracy"]))
        table.append({
            "name": name,
            "label": LABELS[name],
            "clients": clients,
            "epochs": epochs,
            "final_accuracy": summary["final_accuracy"],
            "up_per_client_epoch": summary["bytes_up"] / clients / epochs,
            "down_per_client_epoch": summary["bytes_down"] / clients / epochs,
            "client_seconds_per_epoch": records[-1].get("client_seconds", 0) / clients / epochs,
            "server_seconds_per_epoch": records[-1].get("server_seconds", 0) / epochs,
            "server_part_bytes": max(r.get("server_part_bytes", 0) for r in records),
            "points": points,
        })  # fmt: skip
    return table


def mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def write(runs: Path, table: list[dict[str, Any]]) -> None:
    out = runs.parent
    with open(out / "final.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "clients", "epochs", "final_accuracy", "up_MiB_per_client_epoch",
                    "down_MiB_per_client_epoch", "client_s_per_epoch",
                    "server_part_bytes"])  # fmt: skip
        for r in table:
            w.writerow([r["name"], r["clients"], r["epochs"], r["final_accuracy"],
                        mib(r["up_per_client_epoch"]), mib(r["down_per_client_epoch"]),
                        round(r["client_seconds_per_epoch"], 3),
                        r["server_part_bytes"]])  # fmt: skip
    with open(out / "accuracy.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "epochs", "bytes_per_client", "accuracy"])
        for r in table:
            for epochs, nbytes, accuracy in r["points"]:
                w.writerow([r["name"], round(epochs, 4), int(nbytes), accuracy])
    lines = [
        "| run | clients | epochs | final accuracy | up MiB / client / epoch | "
        "down MiB / client / epoch | client compute s / client / epoch | server parts MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table:
        compute = f"{r['client_seconds_per_epoch']:.2f}" if r["client_seconds_per_epoch"] else ""
        server = mib(r["server_part_bytes"]) if r["server_part_bytes"] else ""
        lines.append(
            f"| {r['label']} | {r['clients']} | {r['epochs']:g} "
            f"| {100 * r['final_accuracy']:.2f} % "
            f"| {mib(r['up_per_client_epoch'])} | {mib(r['down_per_client_epoch'])} | {compute} "
            f"| {server} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    for axis, name, xlabel in ((0, "epochs", "epochs"), (1, "bytes", "MiB per client")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in table:
            if len(r["points"]) < 2:
                continue
            xs = [p[axis] / (2**20 if axis else 1) for p in r["points"]]
            ax.plot(xs, [100 * p[2] for p in r["points"]], marker="o", label=r["label"])
        ax.set_xlabel(xlabel + (" (log)" if axis else ""))
        if axis:
            ax.set_xscale("log")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(90, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(f"MNIST Net, 15 clients IID: accuracy against {xlabel}")
        fig.tight_layout()
        fig.savefig(out / f"accuracy_{name}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="docs/results/split/runs", type=Path)
    args = parser.parse_args()
    table = rows(args.runs)
    write(args.runs, table)
    print((args.runs.parent / "summary.md").read_text(), end="")


if __name__ == "__main__":
    main()
