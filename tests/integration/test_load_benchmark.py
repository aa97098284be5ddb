"""The load benchmark's machinery at a small scale: every light client votes in every
round, and the report says so (the 500-client figures are in the README)."""

from __future__ import annotations

import subprocess
import sys


def test_light_clients_vote_in_every_round() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--clients", "30", "--procs", "2",
         "--rounds", "6", "--algorithm", "mv"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "server exit 0, worker exits [0]" in result.stdout
    assert "voters per round: min 30, max 30" in result.stdout
    assert result.stdout.count("6-6 rounds voted") == 2
