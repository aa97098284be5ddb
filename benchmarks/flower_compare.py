"""signfed against Flower's simulation (flwr + Ray) on the same federated work:
`python -m benchmarks.flower_compare [--rounds 30] [--eval-every 30] [--data-dir data]`
(`make bench-flower` builds Flower's own venv, benchmarks/.flower-venv, and runs this).

The work: 1,000 virtual clients with IID shards of MNIST (60 examples each), 10 drawn
per round, FedAvg with one local epoch of plain SGD (batch 32, lr 0.05) of signfed's
`Net` (common.models), evaluation on the test set every --eval-every rounds and at the
end. signfed runs it as `signfed simulate`; Flower as benchmarks/flower_app.py under
`flwr.simulation.run_simulation`, 1 CPU per Ray actor, --ray-cpus actors. Both sides
train the same clients on the same minibatches from the same initial weights, so their
final accuracies agree (a check that the work is the same, printed with the table).

Reported per side: round seconds (the first round apart: it pays for start-up, Ray's
actors, the first batches; then the median and mean of the others), the whole command's
wall seconds, and the peak memory of the launched process and everything it started
(benchmarks/flower_memory.py: PSS and RSS sums, Ray's re-parented daemons included),
then Flower / signfed. The sides run one after the other, signfed first, under the same
load (the load average is printed before and after). The report goes to stdout and to
--results (default benchmarks/results/flower_compare.txt) with its command on top.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from benchmarks.flower_memory import PeakMemory, run_processes
from common.data import DataError, check_available

ROOT = Path(__file__).resolve().parents[1]
FLOWER_PYTHON = ROOT / "benchmarks" / ".flower-venv" / "bin" / "python"
MIB = 1024  # KiB per MiB


@dataclass(frozen=True)
class SideResult:
    """What one side's run measured."""

    name: str
    round_seconds: list[float]  # every round, the first included
    accuracy: float  # at the last round
    wall_seconds: float  # the whole command: start-up, rounds, evaluation, shut-down
    peak_pss_mib: float
    peak_rss_mib: float
    processes: str  # the processes summed at the PSS peak
    leftovers: str  # processes of the run still alive after it exited (then ended)

    @property
    def median_seconds(self) -> float:
        """Median round seconds after the first (which pays for start-up)."""
        return statistics.median(self.round_seconds[1:])

    @property
    def mean_seconds(self) -> float:
        return statistics.mean(self.round_seconds[1:])


def fail(message: str) -> SystemExit:
    return SystemExit(f"flower_compare: {message}")


def measure(
    name: str, cmd: list[str], log: Path, marker: str = ""
) -> tuple[float, PeakMemory, str]:
    """Run `cmd` in a session of its own while sampling its memory: (wall s, peaks, the
    names of the run's processes that outlived it: those are ended, they are ours)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"## {name}: {' '.join(cmd)}", flush=True)
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        peaks = PeakMemory(proc.pid, marker)
        peaks.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        peaks.stop()
    left = run_processes(proc.pid, marker)
    for pid in left:  # ours: the launched session's, or named by this run's Ray temp dir
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise fail(f"{name} exited with status {code}; the end of its log:\n{tail}")
    return wall, peaks, ", ".join(sorted(left.values()))


def side_result(
    name: str, rounds: list[float], accuracy: float, measured: tuple[float, PeakMemory, str]
) -> SideResult:
    wall, peaks, leftovers = measured
    return SideResult(
        name=name,
        round_seconds=rounds,
        accuracy=accuracy,
        wall_seconds=wall,
        peak_pss_mib=peaks.peak_pss_kib / MIB,
        peak_rss_mib=peaks.peak_rss_kib / MIB,
        processes=peaks.describe(),
        leftovers=leftovers,
    )


def run_signfed(args: argparse.Namespace, tmp: Path) -> SideResult:
    out = tmp / "signfed-run"
    cmd = [sys.executable, "-m", "signfed", "simulate", "--dataset", "mnist",
           "--clients", str(args.clients), "--clients-per-round", str(args.per_round),
           "--algorithm", "fedavg", "--local-epochs", "1", "--partition", "iid",
           "--batch-sizes", str(args.batch_size), "--lr", str(args.lr),
           "--lr-schedule", "constant", "--seed", str(args.seed),
           "--rounds", str(args.rounds), "--eval-every", str(args.eval_every),
           "--threads", "1", "--checkpoint-every", "0",
           "--data-dir", str(args.data_dir), "--out", str(out)]  # fmt: skip
    measured = measure("signfed", cmd, tmp / "signfed.log")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rounds = [r["round_ms"] / 1e3 for r in records]  # the round's work, evaluation apart
    evaluated = [r["accuracy"] for r in records if "accuracy" in r]
    if len(rounds) != args.rounds or not evaluated:
        raise fail(f"signfed wrote {len(rounds)} round records, {len(evaluated)} evaluations")
    return side_result("signfed", rounds, evaluated[-1], measured)


def run_flower(args: argparse.Namespace, tmp: Path) -> tuple[SideResult, dict[str, str]]:
    ray_dir = Path(tempfile.mkdtemp(prefix="rfc", dir="/tmp"))  # short: Ray's socket paths
    result_file = tmp / "flower.json"
    cmd = [str(FLOWER_PYTHON), "-m", "benchmarks.flower_app", "--out", str(result_file),
           "--clients", str(args.clients), "--per-round", str(args.per_round),
           "--rounds", str(args.rounds), "--eval-every", str(args.eval_every),
           "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--seed", str(args.seed), "--data-dir", str(args.data_dir),
           "--ray-cpus", str(args.ray_cpus), "--ray-temp-dir", str(ray_dir)]  # fmt: skip
    try:
        measured = measure("flower", cmd, tmp / "flower.log", marker=str(ray_dir))
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    result = json.loads(result_file.read_text())
    accuracy = result["accuracy"][str(args.rounds)]
    return side_result("flower", result["round_seconds"], accuracy, measured), result["versions"]


def table(signfed: SideResult, flower: SideResult) -> list[str]:
    lines = [
        f"{'side':<8} {'rounds':>6} {'first s':>8} {'s/round med':>11} {'s/round mean':>12} "
        f"{'wall s':>8} {'peak PSS MiB':>12} {'peak RSS MiB':>12} {'accuracy':>8}"
    ]
    for s in (signfed, flower):
        lines.append(
            f"{s.name:<8} {len(s.round_seconds):>6} {s.round_seconds[0]:>8.2f} "
            f"{s.median_seconds:>11.3f} {s.mean_seconds:>12.3f} {s.wall_seconds:>8.1f} "
            f"{s.peak_pss_mib:>12.0f} {s.peak_rss_mib:>12.0f} {s.accuracy:>8.4f}"
        )

    def ratio(pick: str, width: int) -> str:
        theirs, ours = getattr(flower, pick), getattr(signfed, pick)
        return f"{theirs / ours:>{width}.2f}" if ours else f"{'-':>{width}}"

    lines.append(
        f"{'ratio':<8} {'':>6} {'':>8} {ratio('median_seconds', 11)} "
        f"{ratio('mean_seconds', 12)} {ratio('wall_seconds', 8)} {ratio('peak_pss_mib', 12)} "
        f"{ratio('peak_rss_mib', 12)}   (Flower / signfed)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--eval-every", type=int, default=0, help="0: only at the end")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1,
                        help="CPUs Ray may use: one client actor each")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/flower_compare.txt"),
                        help="where the report is written too ('' : nowhere)")  # fmt: skip
    args = parser.parse_args()
    args.eval_every = args.eval_every or args.rounds
    args.data_dir = args.data_dir.resolve()
    if args.rounds < 2:
        raise fail("--rounds must be >= 2 (the first round is reported apart)")
    if not FLOWER_PYTHON.exists():
        raise fail(
            f"no Flower venv at {FLOWER_PYTHON.parent.parent}: `make bench-flower` builds it"
        )
    try:
        check_available("mnist", args.data_dir)
    except DataError as exc:
        raise fail(str(exc)) from None

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="flower-compare-") as tmp:
        signfed = run_signfed(args, Path(tmp))
        flower, versions = run_flower(args, Path(tmp))
    load_after = os.getloadavg()

    command = "$ .venv/bin/python -m benchmarks.flower_compare " + shlex.join(sys.argv[1:])
    today = datetime.date.today().isoformat()
    lines = [
        f"{command.rstrip()}   # {today}, {platform.machine()}, {os.cpu_count()} CPUs",
        f"# MNIST Net, {args.clients} clients (IID, 60 examples each), {args.per_round} per "
        f"round, FedAvg, 1 local epoch, batch {args.batch_size}, lr {args.lr}, "
        f"{args.rounds} rounds, evaluation every {args.eval_every}",
        f"# signfed: torch {version('torch')}, one process, 1 torch thread; "
        f"flower: flwr {versions['flwr']}, ray {versions['ray']}, torch {versions['torch']}, "
        f"{args.ray_cpus} Ray actors of 1 CPU, 1 torch thread each",
        "# load average "
        + " / ".join(f"{x:.1f}" for x in load_before)
        + " before, "
        + " / ".join(f"{x:.1f}" for x in load_after)
        + " after",
        "# s/round: rounds 2.. (the first apart); wall s: the whole command; memory: the "
        "launched process and all it started, peak sum",
        "",
        *table(signfed, flower),
        "",
    ]
    for side in (signfed, flower):
        lines.append(f"# {side.name} at its PSS peak: {side.processes}")
        if side.leftovers:
            lines.append(f"# {side.name}: outlived the run (then ended): {side.leftovers}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.results:
        Path(args.results).write_text(text)


if __name__ == "__main__":
    main()
