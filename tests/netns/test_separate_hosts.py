"""A server and three clients on separate hosts (network namespaces, tests/netlab.py),
over TLS to the server's address, on shaped links: the run ends with identical replicas
and the lab leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from tests.netlab import NetLab
from tests.netns.cluster import start


def test_three_clients_on_shaped_links_end_with_the_servers_model(
    lab: NetLab, tmp_path: Path
) -> None:
    server = lab.host("server")
    clients = [lab.host(f"client{i}") for i in range(3)]
    for host, mbit in zip([server, *clients], (1000, 10, 10, 1), strict=True):
        lab.rate(host, mbit)  # the third client behind a 1 Mbit/s link
    run = ["--rounds", "20", "--eval-every", "10"]
    summary = start(lab, tmp_path, server, clients, run).finish()
    assert summary["rounds"] == 20
    assert summary["replicas_identical"] is True
    assert summary["replica_digests"] == {str(i): summary["model_digest"] for i in range(3)}


def test_a_closed_lab_leaves_no_namespace_link_or_qdisc() -> None:
    lab = NetLab()
    try:
        for host in (lab.host("a"), lab.host("b")):
            lab.rate(host, 10)
            lab.loss(host, 0.01)
        assert lab.leftovers()  # it exists while open
    finally:
        lab.close()
    assert lab.leftovers() == []
