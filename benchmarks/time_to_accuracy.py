"""Time to 97 % test accuracy over slow links: sign voting (1 bit each way) against dense
float32 and float16 updates. `python -m benchmarks.time_to_accuracy {rounds,links,report}
[--out docs/results/time-to-accuracy]`.

MNIST, the paper's `Net`, 15 clients at batch 64, seed 0. The time to an accuracy is
(rounds to reach it) x (seconds per round over the link), and the two factors are
measured apart, each where it can be measured exactly:

- `rounds`: every algorithm trains with `signfed simulate` (the same bits as over the
  network) for up to 300 rounds, evaluated every 10; the first evaluation at >= 97 %
  gives its rounds. sgd runs at lr 0.05, 0.1 and 0.2 and takes its best; float16 at that
  lr. Each finished run lands in OUT/rounds/NAME/.
- `links`: a short run (6 rounds) of each algorithm across emulated WAN links
  (benchmarks/wan_lab.py: a host per process, every client behind 1, 10 or 100 Mbit/s
  and 50 ms round trip, the server behind 1 Gbit/s) measures its seconds per round and
  bytes; each lands as a row of OUT/links.csv.
- `report`: OUT/summary.md and OUT/time_to_accuracy.png from both.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TARGET = 0.97
BASE = ["--dataset", "mnist", "--clients", "15", "--batch-sizes", "64", "--seed", "0"]
SIGN = {
    "llr": ["--algorithm", "llr", "--lr", "0.001"],
    "mv": ["--algorithm", "mv", "--lr", "0.001"],
}
SGD_LRS = ("0.05", "0.1", "0.2")
FLOAT16 = ["--update-encoding", "float16", "--decision-encoding", "float16"]
RATES_MBIT = (1.0, 10.0, 100.0)
RTT_MS = 50.0


def _sgd(lr: str, float16: bool = False) -> list[str]:
    return ["--algorithm", "sgd", "--lr", lr, *(FLOAT16 if float16 else [])]


def rounds_to_target(run_dir: Path) -> int | None:
    """Rounds until the first evaluation at >= TARGET (None: never)."""
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("accuracy", 0.0) >= TARGET:
            return int(record["round"]) + 1
    return None


def simulate(out: Path, name: str, flags: list[str], rounds: int) -> Path:
    run_dir = out / "rounds" / name
    if not (run_dir / "summary.json").exists():  # resumable: finished runs stay
        argv = ["simulate", *BASE, *flags, "--rounds", str(rounds), "--eval-every", "10",
                "--out", str(run_dir)]  # fmt: skip
        subprocess.run([sys.executable, "-m", "signfed.cli", *argv], check=True)
    return run_dir


def best_sgd(out: Path) -> str:
    """The sgd lr that reaches the target in the fewest rounds."""
    runs = [out / "rounds" / f"sgd-lr{lr}" for lr in SGD_LRS]
    if not all((run / "summary.json").exists() for run in runs):
        raise SystemExit(f"time_to_accuracy: {out / 'rounds'} lacks sgd runs: run `rounds` first")
    reached = {lr: rounds_to_target(run) for lr, run in zip(SGD_LRS, runs, strict=True)}
    return min(SGD_LRS, key=lambda lr: reached[lr] or 10**9)


def configs(out: Path) -> dict[str, list[str]]:
    lr = best_sgd(out)
    return {**SIGN, "sgd-float32": _sgd(lr), "sgd-float16": _sgd(lr, float16=True)}


def rounds_dir(out: Path, name: str) -> Path:
    """Where the `rounds` step trained algorithm `name` (a key of `configs`)."""
    lr = best_sgd(out)
    runs = {"sgd-float32": f"sgd-lr{lr}", "sgd-float16": f"sgd-float16-lr{lr}"}
    return out / "rounds" / runs.get(name, name)


def cmd_rounds(out: Path, rounds: int) -> None:
    for name, flags in SIGN.items():
        simulate(out, name, flags, rounds)
    for lr in SGD_LRS:
        simulate(out, f"sgd-lr{lr}", _sgd(lr), rounds)
    simulate(out, f"sgd-float16-lr{best_sgd(out)}", _sgd(best_sgd(out), float16=True), rounds)


def cmd_links(out: Path, rounds: int) -> None:
    from benchmarks.wan_lab import measure  # needs root: only here

    table = out / "links.csv"
    done = {(r["algorithm"], r["mbit"]) for r in _rows(table)}
    # a round's seconds do not depend on the lr: any lr measures sgd's
    runs = {**SIGN, "sgd-float32": _sgd(SGD_LRS[1]), "sgd-float16": _sgd(SGD_LRS[1], True)}
    for mbit in RATES_MBIT:
        for name, flags in runs.items():
            if (name, str(mbit)) in done:
                continue
            measured = measure([*BASE, *flags], 15, mbit, RTT_MS, rounds, out / "lab" / name)
            row = {"algorithm": name, "mbit": mbit, "rtt_ms": RTT_MS, **measured.__dict__}
            new = not table.exists()
            with table.open("a", newline="") as sink:
                writer = csv.DictWriter(sink, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)
            print(f"{name} at {mbit} Mbit/s: {measured.seconds_per_round:.2f} s/round", flush=True)


def _rows(table: Path) -> list[dict[str, Any]]:
    return list(csv.DictReader(table.open())) if table.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("rounds", "links", "report"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/time-to-accuracy"))
    parser.add_argument("--rounds", type=int, default=0, help="rounds: 300; links: 6")
    args = parser.parse_args()
    if args.step == "rounds":
        cmd_rounds(args.out, args.rounds or 300)
    elif args.step == "links":
        cmd_links(args.out, args.rounds or 6)
    else:
        from benchmarks.time_to_accuracy_report import report

        report(args.out, configs(args.out))


if __name__ == "__main__":
    main()
