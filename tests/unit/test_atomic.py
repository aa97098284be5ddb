"""Durable replacement: the file's data and the rename both reach the disk, in order,
for every file a run depends on (checkpoint, summary, metrics after a resume)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.atomic import write_atomic
from common.checkpoint import Checkpoint, save_checkpoint
from server.metrics import MetricsWriter


class Syncs:
    """Records os.fsync and os.replace, in order: ('file', inode), ('dir', inode), ('replace',)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[Any, ...]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            self.events.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
            real_fsync(fd)

        def replace(src: Any, dst: Any) -> None:
            self.events.append(("replace",))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def expect_durable(self, path: Path) -> None:
        """The file was synced (as the inode that now holds `path`), then renamed, then
        its directory synced."""
        assert self.events == [
            ("file", path.stat().st_ino),
            ("replace",),
            ("dir", path.parent.stat().st_ino),
        ]


def test_bytes_are_synced_renamed_and_the_directory_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    path = tmp_path / "f.txt"
    write_atomic(path, b"hello\n")
    assert path.read_bytes() == b"hello\n"
    syncs.expect_durable(path)
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_failing_writer_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")

    def writer(f: Any) -> None:
        f.write(b"half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, writer)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_checkpoints_are_written_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = Syncs(monkeypatch)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, Checkpoint(np.zeros(3, np.float32), 1, {}, {}))
    syncs.expect_durable(path)


def test_summary_is_written_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = MetricsWriter(tmp_path)
    syncs = Syncs(monkeypatch)
    writer.summary({"rounds": 0})
    writer.close()
    syncs.expect_durable(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text())["rounds"] == 0


def test_resumed_metrics_are_cut_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(json.dumps({"round": t}) + "\n" for t in range(5)) + '{"round": 5'
    (tmp_path / "metrics.jsonl").write_text(rows)
    syncs = Syncs(monkeypatch)
    totals = {"total_up": 0, "total_down": 0, "float32_bytes": 0}
    writer = MetricsWriter.resumed(
        tmp_path, {**totals, "last_accuracy": None, "last_loss": None}, 3
    )
    writer.close()
    syncs.expect_durable(tmp_path / "metrics.jsonl")
    # Rounds 3 and 4 are rerun and the torn line goes.
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["round"] for line in lines] == [0, 1, 2]
