"""`signfed server --async`: real clients at their own pace over gRPC.

The server's order of updates, recorded in metrics.jsonl, replays in the simulation to
the server's model, bit for bit; a straggler holds up nobody (the server's timeline);
an update older than --max-staleness is rejected with its status and the client goes
on from the model that follows; a client killed mid-update costs only that update; an
update for a version the server never had ends its stream with INVALID_ARGUMENT.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from common.async_config import AsyncConfig
from common.checkpoint import load_checkpoint
from common.codecs import get_codec
from common.config import AggregatorConfig
from tests.integration.processes import (
    read_metrics,
    spawn_client,
    spawn_server,
    stop_all,
    wait_for,
)

DIGITS = ["--dataset", "digits", "--clients", "3", "--algorithm", "fedavg", "--seed", "5"]


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())  # type: ignore[no-any-return]


def _run(tmp_path: Path, argv: list[str], delays: dict[int, float]) -> Path:
    """A 3-client asynchronous run to its end; returns its --out."""
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    server, port = spawn_server([*DIGITS, *argv, "--port", "0", "--out", str(out)], logs)
    clients = [
        spawn_client(
            port, i, logs, "--threads", "1", *(["--delay", str(delays[i])] if i in delays else [])
        )
        for i in range(3)
    ]
    try:
        assert server.wait(timeout=300) == 0, (logs / "server.log").read_text()
        assert [c.wait(timeout=60) for c in clients] == [0, 0, 0]
    finally:
        stop_all(server, *clients)
    return out


def _replay(tmp_path: Path, argv: list[str], metrics: Path) -> dict[str, Any]:
    out = tmp_path / "replay"
    subprocess.run(
        [sys.executable, "-m", "signfed.cli", "simulate", *DIGITS, *argv,
         "--replay", str(metrics), "--out", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return _summary(out)


@pytest.mark.parametrize(
    "mode", [["--async", "fedasync"], ["--async", "fedbuff", "--buffer-size", "3"]],
    ids=["fedasync", "fedbuff"],
)  # fmt: skip
def test_the_servers_order_replays_to_its_model(tmp_path: Path, mode: list[str]) -> None:
    argv = [*mode, "--rounds", "30", "--eval-every", "10"]
    out = _run(tmp_path, argv, delays={2: 0.05})
    records = read_metrics(out)
    assert [r["round"] for r in records] == list(range(30))
    # every client's updates are numbered 0, 1, ... in the order the server took them
    for client in range(3):
        ks = [r["update"] for r in records if r["client"] == client]
        assert ks == list(range(len(ks))), (client, ks)
    assert any(r["staleness"] > 0 for r in records)  # the order was not a round's
    summary = _summary(out)
    assert summary["error"] is None and summary["replicas_identical"] is True
    assert summary["versions"] == (30 if mode[1] == "fedasync" else 10)
    replayed = _replay(tmp_path, argv, out / "metrics.jsonl")
    assert replayed["model_digest"] == summary["model_digest"]


def test_a_straggler_holds_up_nobody_and_a_stale_update_is_rejected(tmp_path: Path) -> None:
    delay = 0.5
    out = _run(
        tmp_path,
        # enough updates that the straggler sends several, however long its first (cold)
        # local epoch takes: on an idle machine the others send 120 in about 2 s
        ["--async", "fedasync", "--rounds", "400", "--eval-every", "200", "--max-staleness", "3"],
        delays={2: delay},
    )
    records = read_metrics(out)
    slow = [n for n, r in enumerate(records) if r["client"] == 2]
    assert len(slow) >= 2, "the straggler must send twice: raise --rounds"
    # Nobody waits for it: the others' updates go on between any two of its own (its
    # first comes early or late as the processes start, on a loaded machine too).
    assert all(b - a >= 10 for a, b in pairwise(slow)), slow
    assert len(records) - len(slow) >= 10 * len(slow)
    # Each of its updates is more than 3 versions old: rejected, nothing applied...
    for n in slow:
        r = records[n]
        assert r["status"] == "stale" and r["staleness"] > 3 and r["weight"] == 0, r
        assert r["version"] == records[n - 1]["version"]
    # ...and it goes on from the model sent after the rejection: its next update was
    # trained from the version the server had then.
    for a, b in pairwise(slow):
        assert records[b]["base_version"] == records[a]["version"], (records[a], records[b])
    said = (tmp_path / "logs" / "client-2.log").read_text()
    assert "--max-staleness 3" in said and "train from the model that follows" in said


def test_a_client_killed_mid_update_costs_only_that_update(tmp_path: Path) -> None:
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    argv = [*DIGITS, "--async", "fedasync", "--rounds", "200", "--eval-every", "100"]
    server, port = spawn_server([*argv, "--port", "0", "--out", str(out)], logs)
    clients = [spawn_client(port, i, logs, "--threads", "1") for i in (0, 1)]
    doomed = spawn_client(port, 2, logs, "--threads", "1", "--delay", "30")
    try:
        wait_for(lambda: len(read_metrics(out)) >= 20, 120, "20 updates")
        doomed.send_signal(signal.SIGKILL)  # asleep in its first update's --delay
        assert server.wait(timeout=300) == 0, (logs / "server.log").read_text()
        assert [c.wait(timeout=60) for c in clients] == [0, 0]
    finally:
        stop_all(server, *clients, doomed)
    records = read_metrics(out)
    assert [r["round"] for r in records] == list(range(200))
    assert {r["client"] for r in records} == {0, 1}
    summary = _summary(out)
    assert summary["error"] is None and summary["clients_reported"] == 2


def test_an_update_for_a_version_never_had_ends_its_stream(
    start_server: Any, raw_client: Any
) -> None:
    server = start_server(
        num_clients=1,
        aggregator=AggregatorConfig(algorithm="fedavg"),
        server={"asynchrony": AsyncConfig(mode="fedasync")},
    )
    client = raw_client(server.address, "from-the-future")
    reply = client.join()
    assert reply.settings.async_mode == "fedasync"
    client.open()
    first = client.receive()
    assert first.WhichOneof("kind") == "model" and first.model.round == 0
    n = int(reply.settings.num_params)
    client.update(7, np.zeros(n, np.float32).tobytes(), get_codec("float32"))
    code, details = client.end_of_stream()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "claims version 7" in details and "versions 0..0" in details


def test_kill_9_and_resume_loses_no_applied_update(tmp_path: Path) -> None:
    """FedBuff (its buffer is state too) checkpointed after every update, before the
    update's sender hears of the result; kill -9 at a random update, --resume."""
    kill_after = random.randint(20, 80)
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    argv = ["--async", "fedbuff", "--buffer-size", "3", "--rounds", "150", "--eval-every", "50"]
    server, port = spawn_server(
        [*DIGITS, *argv, "--port", "0", "--out", str(out), "--checkpoint-every", "1"],
        logs, "first",
    )  # fmt: skip
    clients = [spawn_client(port, i, logs, "--threads", "1") for i in range(3)]
    resumed = None
    try:
        wait_for(lambda: len(read_metrics(out)) > kill_after, 180, f"update {kill_after}")
        server.send_signal(signal.SIGKILL)
        assert server.wait(timeout=30) == -signal.SIGKILL
        written = len(read_metrics(out))
        checkpointed = load_checkpoint(out / "checkpoint.npz").round
        # the checkpoint follows each record: at most the update being taken is not in it
        assert written - 1 <= checkpointed <= written < 150, (written, checkpointed)
        # no run flags: the run and its asynchronous settings come from the checkpoint
        resumed, _ = spawn_server(["--resume", str(out), "--port", str(port)], logs, "resumed")
        assert [c.wait(timeout=300) for c in clients] == [0, 0, 0]
        assert resumed.wait(timeout=60) == 0
    finally:
        stop_all(server, *clients, *([resumed] if resumed else []))
    assert (
        f"resumed from a checkpoint at update {checkpointed}" in (logs / "resumed.log").read_text()
    )
    records = read_metrics(out)
    assert [r["round"] for r in records] == list(range(150))
    # Every version counts the steps before it, across the restart: none lost, none twice.
    applied = 0
    for r in records:
        applied += r["status"] == "applied"
        assert r["version"] == applied, r
    summary = _summary(out)
    assert summary["error"] is None and summary["replicas_identical"] is True
    assert summary["versions"] == 50
    # and the model is what the recorded updates make, retrained in that order
    assert _replay(tmp_path, argv, out / "metrics.jsonl")["model_digest"] == summary["model_digest"]


def test_a_local_cluster_trains_asynchronously(tmp_path: Path) -> None:
    out = tmp_path / "local"
    done = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "local", *DIGITS, "--async", "fedbuff",
         "--buffer-size", "3", "--rounds", "30", "--eval-every", "10", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fedavg (fedbuff) on digits/mlp, 30 updates" in done.stdout
    assert "done: 30 updates" in done.stdout and "replicas identical: True" in done.stdout
    summary = _summary(out)
    assert summary["asynchrony"]["mode"] == "fedbuff" and summary["versions"] == 10
