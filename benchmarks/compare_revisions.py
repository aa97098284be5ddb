"""Run one benchmark on two revisions, alternately, in one session:
`python -m benchmarks.compare_revisions --base REV [--times 2] -- ARGS...`.

A speed claim ("no slower than before") needs both sides measured on the same machine
under the same load: this checks REV out into a temporary git worktree and runs
`python ARGS` there and in this tree, base first, `--times` rounds, printing every
output under a header, with the load average before each run. Both sides use this
tree's virtual environment; PYTHONPATH puts each side's own sources first (subprocesses
inherit it), so each runs its own code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(tree: Path, label: str, args: list[str]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"## {label} ({tree}); load average before: {load}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True)
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--times", type=int, default=2, help="runs per side, alternating")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then python's arguments")
    ns = parser.parse_args()
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), ns.base],
                       cwd=ROOT, check=True)  # fmt: skip
        try:
            for i in range(ns.times):
                run(base, f"base {ns.base}, run {i + 1}", args)
                run(ROOT, f"this tree (HEAD {head} + changes), run {i + 1}", args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
