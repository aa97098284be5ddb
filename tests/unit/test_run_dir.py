"""One run per --out: an earlier run is refused by name, or with --overwrite removed, file
by file; a fresh metrics.jsonl never continues an old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.config import ConfigError
from server.metrics import MetricsWriter
from server.run_dir import LOCAL_LOGS, start_fresh


def test_an_empty_or_new_directory_is_fine(tmp_path: Path) -> None:
    start_fresh(tmp_path / "new", overwrite=False)
    (tmp_path / "metrics.jsonl").write_text("")  # a server that closed no round
    (tmp_path / "server.port").write_text("5\n")
    start_fresh(tmp_path, overwrite=False, logs=LOCAL_LOGS)


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "checkpoint.npz",
            "x",
            r"holds an unfinished run: pass --resume .* to continue it \(signfed server\), "
            r"or --overwrite to discard it",
        ),
        ("summary.json", "{}", r"holds a finished run \(summary.json\): pass --overwrite"),
        ("metrics.jsonl", '{"round": 0}\n', r"holds a started run \(metrics.jsonl\)"),
        ("client-14.log", "x", r"holds an earlier run's logs \(client-14.log\)"),
        ("server.log", "x", r"holds an earlier run's logs \(server.log\)"),
    ],
)  # fmt: skip
def test_an_earlier_run_is_refused_and_left_alone(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError, match=message):
        start_fresh(tmp_path, overwrite=False, logs=LOCAL_LOGS)
    assert (tmp_path / name).read_text() == content


def test_logs_count_only_where_they_are_a_runs(tmp_path: Path) -> None:
    (tmp_path / "server.log").write_text("x")  # a server's --out: its logs are elsewhere
    start_fresh(tmp_path, overwrite=False)


def test_overwrite_removes_every_earlier_run_file_and_nothing_else(tmp_path: Path) -> None:
    run_files = ["metrics.jsonl", "summary.json", "checkpoint.npz", "server.port",
                 "server.log", "client-0.log", "client-14.log"]  # fmt: skip
    for name in [*run_files, "notes.txt", "client-0.log.bak"]:
        (tmp_path / name).write_text("x")
    start_fresh(tmp_path, overwrite=True, logs=LOCAL_LOGS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client-0.log.bak", "notes.txt"]


def test_a_server_overwrite_keeps_the_launchers_logs(tmp_path: Path) -> None:
    for name in ("summary.json", "server.log"):
        (tmp_path / name).write_text("x")
    start_fresh(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["server.log"]


def test_a_fresh_metrics_writer_starts_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"round": 0}\n{"round": 1}\n')
    writer = MetricsWriter(tmp_path)
    writer.round({"round": 0, "bytes_up": 1, "bytes_down": 2, "clients": 1}, num_params=8)
    writer.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"round": 0, "bytes_up": 1, "bytes_down": 2, "clients": 1}]
