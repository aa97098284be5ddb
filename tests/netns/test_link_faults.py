"""Faults on real links between separate hosts (tests/netlab.py): lossy links, a cable
pulled for 20 s in the middle of the run, a client whose bandwidth drops 100x. No round
outlasts its deadline, no replica diverges, and a client cut off is back in the cohort
once its link is."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.netlab import NetLab
from tests.netns.cluster import start

DEADLINE_S = 3.0  # --round-deadline: a round waits this long for a missing member
SLACK_S = 2.0  # what a round may take beyond it (closing, a late arrival's handling)
FAULTY = ["--round-deadline", str(DEADLINE_S), "--quorum", "0.6"]  # 2 of 3 close a round
# digits rounds take milliseconds: paced, a run outlasts the fault and the recovery
PACED = ["--delay", "0.4"]


def _identical(summary: dict[str, Any], clients: int = 3) -> None:
    assert summary["replicas_identical"] is True
    assert summary["replica_digests"] == {str(i): summary["model_digest"] for i in range(clients)}


def _longest_round_s(records: list[dict[str, Any]]) -> float:
    return max(r["round_ms"] for r in records) / 1000


def test_lossy_links_slow_rounds_but_lose_nothing(lab: NetLab, tmp_path: Path) -> None:
    server = lab.host("server")
    clients = [lab.host(f"client{i}") for i in range(3)]
    lab.loss(clients[0], 0.01)
    lab.loss(clients[1], 0.05)
    cluster = start(lab, tmp_path, server, clients, ["--rounds", "30"], FAULTY)
    summary = cluster.finish()
    _identical(summary)
    assert _longest_round_s(cluster.metrics()) < DEADLINE_S + SLACK_S


def test_a_link_down_for_20_s_closes_rounds_by_quorum_and_the_client_comes_back(
    lab: NetLab, tmp_path: Path
) -> None:
    server = lab.host("server")
    clients = [lab.host(f"client{i}") for i in range(3)]
    cluster = start(lab, tmp_path, server, clients, ["--rounds", "70"], FAULTY, PACED)
    cluster.wait_for_round(5)
    lab.link(clients[2], up=False)
    cut = max(r["round"] for r in cluster.metrics())
    time.sleep(20)
    lab.link(clients[2], up=True)
    back = max(r["round"] for r in cluster.metrics())
    summary = cluster.finish()
    _identical(summary)
    records = cluster.metrics()
    assert _longest_round_s(records) < DEADLINE_S + SLACK_S
    during = [r for r in records if cut + 1 < r["round"] <= back]
    assert during and all(r["clients"] == 2 for r in during)  # closed without it
    assert records[-1]["clients"] == 3  # back in the cohort


def test_a_client_throttled_100x_misses_rounds_and_catches_up(lab: NetLab, tmp_path: Path) -> None:
    server = lab.host("server")
    clients = [lab.host(f"client{i}") for i in range(3)]
    for host in clients:
        lab.rate(host, 10)
    # float32 updates and decisions, 19 kB each: 1.5 s each way at 0.1 Mbit/s, longer
    # than the rounds' deadline
    run = ["--rounds", "60", "--algorithm", "sgd", "--lr", "0.05"]
    tight = ["--round-deadline", "1.5", "--quorum", "0.6"]
    cluster = start(lab, tmp_path, server, clients, run, tight, PACED)
    cluster.wait_for_round(5)
    lab.rate(clients[2], 0.1)
    cluster.wait_for_round(20)
    lab.rate(clients[2], 10)
    summary = cluster.finish()
    _identical(summary)
    records = cluster.metrics()
    assert _longest_round_s(records) < 1.5 + SLACK_S
    assert any(r["clients"] == 2 for r in records)  # it missed rounds while throttled
    assert records[-1]["clients"] == 3  # and is back
