"""`signfed local --algorithm split`: every variant over gRPC ends at the simulation's
model, bit for bit, with the same bytes; bad tensors end only their sender's stream.

The network adds the encoding, chunking and reassembly of every tensor at the cut and
of every client part handed over, and runs the server part in the server process; the
simulation calls the same objects directly (signfed/split_simulation.py).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.codec import checksum
from common.proto import signfed_pb2 as pb
from tests.integration.processes import spawn_client, spawn_server, stop_all, wait_for
from tests.integration.raw import RawClient

DIGITS = ["--dataset", "digits", "--partition", "dirichlet", "--dirichlet-alpha", "0.5",
          "--batch-sizes", "16,32,24", "--clients", "3", "--lr", "0.05",
          "--client-momentum", "0.5", "--eval-every", "1", "--seed", "4"]  # fmt: skip
# U-shaped needs a model with a stage between the cut and the top: MNIST's Net
MNIST = ["--dataset", "mnist", "--partition", "iid", "--batch-sizes", "8", "--clients", "2",
         "--lr", "0.02", "--local-steps", "6", "--eval-every", "1", "--seed", "4"]  # fmt: skip
COMPARED = ("round", "clients", "steps", "bytes_down", "accuracy", "loss", "train_loss")


def _signfed(*argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "flags",
    [
        [*DIGITS, "--split-variant", "vanilla", "--rounds", "2"],
        [*DIGITS, "--split-variant", "splitfed", "--rounds", "3", "--update-encoding",
         "float16", "--decision-encoding", "bfloat16", "--chunk-bytes", "4096"],
        [*MNIST, "--split-variant", "ushaped", "--cut-layer", "conv1", "--rounds", "2"],
        [*DIGITS, "--split-variant", "splitfed2", "--rounds", "2"],
    ],
    ids=["vanilla", "splitfed-float16", "ushaped-net", "splitfed2"],
)  # fmt: skip
def test_network_and_simulation_give_bit_identical_models(tmp_path: Path, flags: list[str]) -> None:
    net, sim = tmp_path / "net", tmp_path / "sim"
    _signfed("local", "--algorithm", "split", *flags, "--out", str(net))
    _signfed("simulate", "--algorithm", "split", *flags, "--out", str(sim))
    networked = json.loads((net / "summary.json").read_text())
    simulated = json.loads((sim / "summary.json").read_text())
    assert networked["replicas_identical"] is True  # every client holds the final part
    assert networked["model_digest"] == simulated["model_digest"]
    assert networked["split"] == simulated["split"]
    assert networked.keys() == simulated.keys()
    assert [{k: r.get(k) for k in COMPARED} for r in _rows(net)] == [
        {k: r.get(k) for k in COMPARED} for r in _rows(sim)
    ]
    # Bytes up too, once each stream's Attach (round 0) is behind.
    assert [r["bytes_up"] for r in _rows(net)[1:]] == [r["bytes_up"] for r in _rows(sim)[1:]]
    assert all(r["bytes_up"] > 0 and r["steps"] > 0 for r in _rows(net))


def _activations(reply: pb.JoinReply, part: pb.ModelChunk, **overrides: Any) -> pb.ClientMessage:
    """One ACTIVATIONS tensor for the digits MLP cut at fc1 (64 values an example),
    batch 4; `overrides` replace any SplitTensor field."""
    shape = overrides.pop("shape", [4, 64])
    data = b"\0" * 4 * math.prod(shape)
    fields: dict[str, Any] = dict(
        round=part.round, step=0, kind=pb.ACTIVATIONS, shape=shape, encoding=pb.FLOAT32,
        offset=0, last=True, crc32=checksum(data), data=data, labels=[1, 2, 3, 4],
    )  # fmt: skip
    fields.update(overrides)
    return pb.ClientMessage(tensor=pb.SplitTensor(**fields))


BAD = {
    "wrong shape": ({"shape": [4, 63]}, grpc.StatusCode.INVALID_ARGUMENT, "shape [4, 63]"),
    "batch too large": ({"shape": [5, 64], "labels": [1] * 5}, grpc.StatusCode.INVALID_ARGUMENT,
                        "exceeds the 256 values"),
    "float16 declared": ({"encoding": pb.FLOAT16}, grpc.StatusCode.INVALID_ARGUMENT, "encoding"),
    "label out of range": ({"labels": [1, 2, 3, 10]}, grpc.StatusCode.INVALID_ARGUMENT,
                           "label 10 out of range"),
    "gradient never asked for": ({"kind": pb.OUTPUT_GRADIENT, "labels": []},
                                 grpc.StatusCode.FAILED_PRECONDITION, "sent no output"),
}  # fmt: skip


def test_bad_tensors_end_only_their_stream(tmp_path: Path) -> None:
    """Five clients send one bad tensor each as their SplitFed round opens; each stream
    ends with its status, and the two honest clients train the run to its end."""
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    flags = ["--dataset", "digits", "--clients", "7", "--rounds", "2", "--batch-sizes", "8",
             "--algorithm", "split", "--split-variant", "splitfed", "--eval-every", "1",
             "--lr", "0.1"]  # fmt: skip
    server, port = spawn_server([*flags, "--port", "0", "--out", str(out)], logs)
    honest = [spawn_client(port, i, logs, "--threads", "1") for i in range(2)]
    raws = [RawClient(f"127.0.0.1:{port}", f"bad-{i}") for i in range(len(BAD))]
    try:
        for i, raw in enumerate(raws):
            raw.join(requested_id=2 + i)  # ids 0 and 1 are the honest clients'
            raw.open()
        for raw, (overrides, _, _) in zip(raws, BAD.values(), strict=True):
            first = raw.receive()
            while not first.model.last:  # its part of the model: the round is open
                first = raw.receive()
            raw.send(_activations(raw.reply, first.model, **overrides))
        for raw, (what, (_, code, text)) in zip(raws, BAD.items(), strict=True):
            got, details = raw.end_of_stream()
            assert (got, text in details) == (code, True), f"{what}: {got} {details}"
        assert server.wait(timeout=120) == 0, (logs / "server.log").read_text()
        assert [c.wait(timeout=60) for c in honest] == [0, 0]
    finally:
        for raw in raws:
            raw.close()
        stop_all(server, *honest)
    summary = json.loads((out / "summary.json").read_text())
    rows = _rows(out)
    assert (summary["rounds"], summary["error"]) == (2, None)
    assert [r["clients"] for r in rows] == [2, 2]  # round 0 without the five, round 1 too
    assert summary["final_accuracy"] > 0.5


def test_a_client_killed_mid_turn_loses_only_its_turn(tmp_path: Path) -> None:
    """SplitNN in turn: client 1 dies in round 0's turn (kill -9 while it holds the head);
    the round goes on with client 2 from the head client 0 left, client 1 restarts,
    rejoins, and trains again from a later round (the others' --delay keeps the run going
    while it starts); every client ends holding the final part."""
    out, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    flags = ["--dataset", "digits", "--clients", "3", "--rounds", "4", "--batch-sizes", "32",
             "--algorithm", "split", "--eval-every", "1", "--lr", "0.1"]  # fmt: skip
    server, port = spawn_server([*flags, "--port", "0", "--out", str(out)], logs)
    clients = [spawn_client(port, i, logs, "--threads", "1", "--delay", "2") for i in (0, 2)]
    doomed = spawn_client(port, 1, logs, "--threads", "1", "--delay", "30")
    try:
        log = logs / "client-1.log"
        wait_for(lambda: "round 0: my turn" in log.read_text(), 120, "client 1's turn")
        doomed.kill()
        doomed.wait(timeout=30)
        log.rename(logs / "client-1-killed.log")
        clients.append(spawn_client(port, 1, logs, "--threads", "1"))
        assert server.wait(timeout=180) == 0, (logs / "server.log").read_text()
        assert [c.wait(timeout=60) for c in clients] == [0, 0, 0]
    finally:
        stop_all(server, doomed, *clients)
    summary = json.loads((out / "summary.json").read_text())
    trained = [r["clients"] for r in _rows(out)]
    assert (len(trained), trained[0], trained[-1]) == (4, 2, 3)
    assert summary["replicas_identical"] is True
    assert "client 1 left mid-turn" in (logs / "server.log").read_text()
