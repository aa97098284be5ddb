"""`signfed local` end to end: a server and 3 client processes train on digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROUNDS = 300
ACCURACY_FLOOR = 0.85  # measured ~0.9x; MLP on scikit-learn digits, lr 0.01, llr


def test_local_cluster_trains_digits_with_identical_replicas(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "local", "--dataset", "digits", "--clients", "3",
         "--batch-sizes", "8,16,64", "--rounds", str(ROUNDS), "--lr", "0.01",
         "--eval-every", "100", "--warmup-rounds", "20", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == ROUNDS
    assert summary["final_accuracy"] >= ACCURACY_FLOOR, summary
    assert summary["replicas_identical"] is True
    assert summary["clients_reported"] == 3
    assert summary["replica_digests"] == {str(i): summary["model_digest"] for i in range(3)}
    # The clients were started without --batch-size: each took the server's plan.
    for i, batch in enumerate((8, 16, 64)):
        assert f"(client-{i}, batch {batch})" in (out / f"client-{i}.log").read_text()

    n = summary["num_params"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in records] == list(range(ROUNDS))
    for r in records[1:]:  # round 0 also carries the admission messages
        assert r["clients"] == 3
        assert r["bytes_up"] / 3 <= n / 8 + 64
        assert r["bytes_down"] / 3 <= n / 8 + 64
    assert summary["float32_bytes"] / summary["total_bytes"] >= 32 * (n / 8) / (n / 8 + 64)
    assert "final accuracy" in result.stdout
