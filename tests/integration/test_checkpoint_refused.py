"""`signfed server --resume` on a damaged or crafted checkpoint: exit 2 with one
`signfed: error:` line naming the file and the field, no traceback, and nothing on disk
changed (the checkpoint and metrics.jsonl are byte for byte what they were)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.checkpoint import load_checkpoint
from tests.integration.processes import spawn_server

RUN = ["--dataset", "digits", "--clients", "2", "--rounds", "20"]
METRICS = "".join(json.dumps({"round": t, "clients": 2}) + "\n" for t in range(3))
Craft = Callable[[dict[str, Any]], None]  # edits the checkpoint's parts in place


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real server's checkpoint: SIGTERM while it waits for clients checkpoints round 0."""
    tmp = tmp_path_factory.mktemp("served")
    server, _ = spawn_server([*RUN, "--port", "0", "--out", str(tmp / "run")], tmp)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 1  # interrupted
    assert load_checkpoint(tmp / "run" / "checkpoint.npz").round == 0
    return tmp / "run"


def _write(path: Path, parts: dict[str, Any]) -> None:
    """The parts back into an .npz laid out as save_checkpoint does, whatever they hold."""
    meta = np.frombuffer(json.dumps(parts.pop("meta")).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, meta=meta, **parts)


def _parts(path: Path) -> dict[str, Any]:
    with np.load(path) as npz:
        parts = {name: npz[name] for name in npz.files}
    parts["meta"] = json.loads(parts["meta"].tobytes())
    return parts


def _set(key: str, value: Any) -> Craft:
    return lambda p: p["meta"].update({key: value})


def _drop(key: str) -> Craft:
    return lambda p: p["meta"].pop(key)


def _model(change: Callable[[np.ndarray], np.ndarray]) -> Craft:
    return lambda p: p.update(flat=change(p["flat"]))


CASES: dict[str, tuple[Callable[[bytes], bytes] | Craft, str]] = {
    "truncated": (lambda raw: raw[: len(raw) // 2], "is not a readable checkpoint"),
    "random bytes": (lambda raw: np.random.default_rng(0).bytes(len(raw)),
                     "is not a readable checkpoint"),
    "missing members": (_drop("members"), "'members' is missing"),
    "round -5": (_set("round", -5), r"round -5 is not in [0, 20)"),
    "round 999999": (_set("round", 999999), r"round 999999 is not in [0, 20)"),
    "wrong size": (_model(lambda f: f[:-1]), "model is float32"),
    "nan model": (_model(lambda f: np.full_like(f, np.nan)), "non-finite values"),
    "bad members": (_set("members", [{"client_id": 5, "name": "x", "batch_size": 4}]),
                    "members[0] client_id 5 is not in [0, 2)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_checkpoint_is_one_line_and_changes_nothing(
    checkpointed: Path, tmp_path: Path, case: str
) -> None:
    out = tmp_path / "run"
    shutil.copytree(checkpointed, out)
    (out / "metrics.jsonl").write_text(METRICS)
    path = out / "checkpoint.npz"
    damage, message = CASES[case]
    if case in ("truncated", "random bytes"):
        path.write_bytes(damage(path.read_bytes()))  # type: ignore[arg-type]
    else:
        parts = _parts(path)
        damage(parts)  # type: ignore[arg-type]
        _write(path, parts)
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "server", "--resume", str(out), "--port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("signfed: error:") and str(path) in last and message in last, last
    assert path.read_bytes() == before
    assert (out / "metrics.jsonl").read_text() == METRICS
