"""`signfed simulate` and `signfed local` end at the same model, bit for bit, for every
algorithm and encoding, and count the same bytes on the wire.

Same configuration, same seed: heterogeneous batches, a Dirichlet split (its alpha is
not a float32 number: the wire must carry it exactly), a cosine lr schedule (server and
clients must compute the same lr_t) and enough rounds for the llr weights to act. Both
run the same round engine (server/engine.py); the network adds the encoding, chunking
and reassembly of every payload, and its byte counts are measured on the messages the
server actually read and wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.codecs import get_codec

RUN_FLAGS = [
    "--dataset", "digits", "--clients", "4", "--batch-sizes", "4,4,16,64", "--rounds", "16",
    "--lr", "0.01", "--lr-schedule", "cosine", "--partition", "dirichlet",
    "--dirichlet-alpha", "0.3", "--warmup-rounds", "4", "--eval-every", "5", "--seed", "3",
]  # fmt: skip
COMPARED = (
    "round",
    "clients",
    "bytes_down",
    "accuracy",
    "loss",
    "client_weights",
    "client_weights_signed",
)


def _signfed(*argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compared(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k in COMPARED} for line in lines]


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# Local training with partial participation, a server optimizer and an attacking client
# process; a robust rule against colluding attackers; signSGD-FD against a label flipper.
FEDAVG = ["--clients-per-round", "3", "--local-steps", "3", "--client-momentum", "0.5",
          "--server-optimizer", "adam", "--server-lr", "0.01", "--attack", "negate",
          "--attackers", "1", "--attack-scale", "4"]  # fmt: skip
ROBUST = ["--rule", "median-of-means", "--groups", "2", "--attack", "alie", "--attackers", "2"]
FD = ["--attack", "labelflip", "--attackers", "1"]


@pytest.mark.parametrize(
    ("algorithm", "update", "decision", "extra"),
    [
        ("llr", "sign1", "sign1", []),
        ("mv", "sign1", "sign1", []),
        ("sgd", "float32", "float32", []),
        ("sgd", "float16", "bfloat16", []),
        ("llr", "ternary", "ternary", []),  # --zeros abstain
        ("mv", "ternary", "ternary", []),
        ("fedavg", "float32", "float32", FEDAVG),
        ("sgd", "float32", "float32", ROBUST),
        ("fd", "sign1", "sign1", FD),
    ],
)
def test_simulation_and_network_give_bit_identical_models(
    tmp_path: Path, algorithm: str, update: str, decision: str, extra: list[str]
) -> None:
    net, sim = tmp_path / "net", tmp_path / "sim"
    flags = [*RUN_FLAGS, "--algorithm", algorithm, *extra]
    if algorithm == "sgd" and not extra:
        flags += ["--update-encoding", update, "--decision-encoding", decision]
    if update == "ternary":
        flags += ["--zeros", "abstain"]
    _signfed("local", *flags, "--out", str(net))
    _signfed("simulate", *flags, "--out", str(sim))

    networked = json.loads((net / "summary.json").read_text())
    simulated = json.loads((sim / "summary.json").read_text())
    assert networked["replicas_identical"] is True
    assert simulated["model_digest"] == networked["model_digest"]
    assert simulated["rounds"] == networked["rounds"] == 16
    assert simulated["config"] == networked["config"]
    assert networked.keys() == simulated.keys()  # one summary.json schema
    assert (networked["runner"], simulated["runner"]) == ("server", "simulate")
    assert networked["update_encoding"] == simulated["update_encoding"] == update
    assert networked["decision_encoding"] == simulated["decision_encoding"] == decision
    # Every round's evaluation, weights and decision traffic agree as well.
    assert _compared(sim) == _compared(net)
    assert [r for r in _compared(sim) if "client_weights" in r] or algorithm != "llr"
    # Bytes up: what the server read (each stream's Attach aside, in round 0) is what the
    # simulation computes, and it is the encoding's payload plus a few bytes a message.
    n = networked["num_params"]
    clients = 3 if "--clients-per-round" in extra else 4
    payload = clients * get_codec(update).max_size(n)
    for got, want in zip(_rows(net)[1:], _rows(sim)[1:], strict=True):
        assert got["bytes_up"] == want["bytes_up"]
        if update == "ternary":  # the size follows the zeros; max_size bounds it
            assert got["bytes_up"] <= payload + clients * 40
        else:
            assert payload < got["bytes_up"] <= payload + clients * 40
    if update == "ternary":  # the run abstained, as both sides were told
        assert simulated["config"]["aggregator"]["zeros"] == "abstain"
    if "--attack" in extra:  # the simulation knows who attacked; the server is never told
        assert networked["attack"] is None and len(simulated["attack"]["ids"]) >= 1
