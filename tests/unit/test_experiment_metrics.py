"""A run's per-round records read the same from metrics.jsonl and metrics.jsonl.gz."""

import gzip
import json
from pathlib import Path

from signfed.experiment import metrics_file, records

ROWS = [{"round": 0, "accuracy": 0.5}, {"round": 1, "accuracy": 0.75, "loss": 1.25}]


def test_gzipped_metrics_read_as_the_plain_file(tmp_path: Path) -> None:
    text = "".join(json.dumps(row) + "\n" for row in ROWS)
    (tmp_path / "metrics.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    assert metrics_file(tmp_path) == tmp_path / "metrics.jsonl.gz"
    assert list(records(metrics_file(tmp_path))) == ROWS


def test_the_plain_file_a_run_writes_wins_over_a_gzipped_one(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl.gz").write_bytes(gzip.compress(b'{"round": 9}\n'))
    (tmp_path / "metrics.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    assert metrics_file(tmp_path) == tmp_path / "metrics.jsonl"
    assert list(records(metrics_file(tmp_path))) == ROWS[:1]
