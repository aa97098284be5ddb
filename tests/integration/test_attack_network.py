"""One attacking `signfed client` process among honest ones, end to end over gRPC.

Only the attacker's process is started with --attack; the server is never told who
attacks and treats every stream alike. What the defence does shows in metrics.jsonl:
FedAvg's mean follows a client sending -4x its update to chance, the coordinate median
does not, and llr learns a negative weight for a sign flipper (it inverts its votes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.attacks import attacker_ids
from tests.integration.processes import read_metrics, spawn_client, spawn_server, stop_all

CLIENTS, SEED = 5, 2
RUN = ["--dataset", "digits", "--clients", str(CLIENTS), "--partition", "iid",
       "--seed", str(SEED), "--port", "0"]  # fmt: skip
ATTACKER = attacker_ids(SEED, CLIENTS, 1)[0]


def _cluster(tmp_path: Path, name: str, attack: list[str], *flags: str) -> dict[str, Any]:
    """A server and CLIENTS client processes, client ATTACKER started with `attack`;
    returns the run's last evaluated metrics row once every process has exited 0."""
    out, logs = tmp_path / name, tmp_path / f"{name}-logs"
    logs.mkdir()
    server, port = spawn_server([*RUN, *flags, "--out", str(out)], logs)
    clients = [
        spawn_client(port, i, logs, *(attack if i == ATTACKER else []), "--threads", "1")
        for i in range(CLIENTS)
    ]
    try:
        codes = [p.wait(timeout=300) for p in (server, *clients)]
    finally:
        stop_all(server, *clients)
    assert codes == [0] * (CLIENTS + 1), (logs / "server.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas_identical"] is True and summary["attack"] is None
    evaluated: list[dict[str, Any]] = [r for r in read_metrics(out) if "accuracy" in r]
    return evaluated[-1]


def test_fedavg_mean_collapses_under_one_attacker_and_the_median_holds(tmp_path: Path) -> None:
    fedavg = ["--algorithm", "fedavg", "--lr", "0.05", "--rounds", "10", "--eval-every", "5"]
    attack = ["--attack", "negate", "--attackers", "1", "--attack-scale", "4"]
    honest = _cluster(tmp_path, "honest", [], *fedavg)
    mean = _cluster(tmp_path, "mean", attack, *fedavg)
    median = _cluster(tmp_path, "median", attack, *fedavg, "--rule", "median")
    assert honest["accuracy"] > 0.6  # digits, 10 rounds: 0.70
    # -4u from one client against 4u from four: the mean goes nowhere useful.
    assert mean["accuracy"] < 0.3
    assert median["accuracy"] > honest["accuracy"] - 0.05


def test_llr_learns_a_negative_weight_for_a_sign_flipping_process(tmp_path: Path) -> None:
    llr = ["--algorithm", "llr", "--rounds", "40", "--warmup-rounds", "5", "--eval-every", "20"]
    last = _cluster(tmp_path, "llr", ["--attack", "negate", "--attackers", "1"], *llr)
    assert last["accuracy"] > 0.6  # as without the attacker (0.68)
    signed = {int(k): w for k, w in last["client_weights_signed"].items()}
    assert signed.keys() == set(range(CLIENTS))
    assert signed[ATTACKER] < -1.0  # its signs are read inverted, and count
    assert all(w > 1.0 for client, w in signed.items() if client != ATTACKER)
