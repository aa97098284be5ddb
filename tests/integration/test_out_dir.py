"""One run per --out: a rerun is refused (exit 2, one line, nothing touched) or, with
--overwrite, replaces every file of the earlier run; launchers fail in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from tests.integration.processes import read_metrics, spawn_server

LOCAL = ["local", "--dataset", "digits", "--rounds", "3", "--eval-every", "3"]


def _signfed(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv], capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The error line of a run that failed with `code` without a traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr.strip().splitlines()[-1]


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_rerun_is_refused_unless_overwrite_replaces_the_whole_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _signfed(*LOCAL, "--clients", "2", "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    assert (out / "client-1.log").exists()
    before = _files(out)

    line = _one_line_error(_signfed(*LOCAL, "--clients", "1", "--out", str(out)))
    assert line == (
        f"signfed: error: --out {out} holds a finished run (summary.json): pass --overwrite "
        "to replace it, or choose another --out"
    )
    line = _one_line_error(_signfed("server", "--dataset", "digits", "--out", str(out)))
    assert "holds a finished run (summary.json)" in line
    assert _files(out) == before  # not a byte changed, no row appended

    again = _signfed(*LOCAL, "--clients", "1", "--out", str(out), "--overwrite")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r["round"] for r in read_metrics(out)] == [0, 1, 2]  # once each
    assert json.loads((out / "summary.json").read_text())["clients_reported"] == 1
    assert not (out / "client-1.log").exists()  # the larger earlier cohort's log went too
    curve = ["accuracy.png"] if find_spec("matplotlib") else []  # drawn when it can be
    assert sorted(p.name for p in out.iterdir()) == [
        *curve, "client-0.log", "metrics.jsonl", "server.log", "server.port", "summary.json",
    ]  # fmt: skip


def test_a_server_overwrite_starts_an_empty_metrics_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    rows = "".join(json.dumps({"round": t}) + "\n" for t in range(100))
    (out / "metrics.jsonl").write_text(rows)
    line = _one_line_error(_signfed("server", "--dataset", "digits", "--out", str(out)))
    assert "holds a started run (metrics.jsonl)" in line
    assert (out / "metrics.jsonl").read_text() == rows
    server, _ = spawn_server(
        ["--dataset", "digits", "--port", "0", "--out", str(out), "--overwrite"], tmp_path
    )
    try:
        assert (out / "metrics.jsonl").read_text() == ""  # the old rows are gone, not extended
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_a_missing_dataset_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    empty, out = tmp_path / "no-data", tmp_path / "run"
    empty.mkdir()
    line = _one_line_error(
        _signfed("local", "--dataset", "cifar10", "--data-dir", str(empty), "--out", str(out))
    )
    assert line.startswith(f"signfed: error: CIFAR-10 is not in {empty}/cifar10/")
    assert not out.exists()  # no process was started
    line = _one_line_error(
        _signfed("server", "--dataset", "fashion-mnist", "--data-dir", str(empty), "--port", "0",
                 "--out", str(out))
    )  # fmt: skip
    assert line == (
        f"signfed: error: fashion-mnist is not in {empty}/fashion-mnist (no such directory). "
        f"Run `make data-fashion` (or `signfed fetch --dataset fashion-mnist --data-dir "
        f"{empty}`) to fetch it."
    )


def test_local_says_why_its_server_did_not_start(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _signfed(*LOCAL, "--clients", "1", "--server-threads", "-1", "--out", str(out))
    line = _one_line_error(result)
    assert line == (
        "signfed local: the server exited with 2 before listening: signfed: error: --threads "
        f"must be >= 1, got -1 (see {out}/server.log)"
    )
