"""The Ray backend on a two-node Ray cluster of this machine (ray.cluster_utils.Cluster):
actors on both nodes, and the model the in-process backend trains, bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.attack_config import AttackConfig
from common.config import AggregatorConfig, RunConfig
from common.data import load_dataset
from signfed.client_pool import PoolSpec
from signfed.pool_config import PoolConfig
from signfed.simulation import Simulation, SimulationConfig

ray = pytest.importorskip("ray", reason="the Ray backend is the optional extra signfed[ray]")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = pytest.mark.slow

RUN = RunConfig(
    dataset="digits",
    num_clients=12,
    clients_per_round=5,
    rounds=4,
    learning_rate=0.01,
    eval_every=2,
    partition="dirichlet",
    aggregator=AggregatorConfig(algorithm="llr"),
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head and a second node, one CPU each: two actors, one per node."""
    # every address 127.0.0.1: tests/conftest.py sets Ray's environment for that
    loopback = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    nodes = cluster_utils.Cluster(
        initialize_head=True, head_node_args={**loopback, "include_dashboard": False}
    )
    nodes.add_node(**loopback)
    nodes.wait_for_nodes()
    yield nodes
    nodes.shutdown()


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def test_ray_actors_on_two_nodes_train_the_in_process_model(cluster: Any, tmp_path: Path) -> None:
    digits = load_dataset("digits", "data", seed=0)
    here = tmp_path / "inprocess"
    Simulation(SimulationConfig(RUN, out_dir=str(here), data_dir=str(tmp_path)), digits).run_all()

    pool = PoolConfig(backend="ray", ray_address=cluster.address)
    config = SimulationConfig(RUN, out_dir=str(tmp_path / "ray"), data_dir=str(tmp_path), pool=pool)
    simulation = Simulation(config, digits)
    assert len(simulation.pool.nodes()) == 2  # type: ignore[attr-defined]  # one actor each
    simulation.run_all()  # closes the pool: the actors go, the cluster stays

    ours, theirs = _summary(here), _summary(tmp_path / "ray")
    assert theirs["model_digest"] == ours["model_digest"]
    assert theirs["final_accuracy"] == ours["final_accuracy"]
    assert not ray.is_initialized()


def test_more_workers_than_the_cluster_has_cpus_is_refused(cluster: Any, tmp_path: Path) -> None:
    spec = PoolSpec(RUN, AttackConfig(), str(tmp_path), 1)
    digits = load_dataset("digits", "data", seed=0)
    from common.config import ConfigError
    from signfed.ray_pool import RayPool

    with pytest.raises(ConfigError, match="--workers 3: the Ray cluster offers 2 CPUs"):
        RayPool(spec, spec.clients(digits), 3, cluster.address)
    assert not ray.is_initialized()


def test_the_cli_runs_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    argv = ["--dataset", "digits", "--clients", "6", "--clients-per-round", "2", "--rounds",
            "2", "--partition", "iid", "--out", str(out), "--data-dir", str(tmp_path)]  # fmt: skip
    ray_args = ["--backend", "ray", "--ray-address", cluster.address]
    done = subprocess.run(
        [sys.executable, "-m", "signfed", "simulate", *argv, *ray_args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _summary(out)["rounds"] == 2
