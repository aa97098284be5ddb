"""Where the clients train changes no bit: virtual clients sharing one model compute what
clients with their own models compute, and the process pool gives the in-process run's
model; a worker that dies fails the round instead of hanging it."""

from __future__ import annotations

import json
import os
import signal
import socket
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from client.trainer import LocalTrainer
from common.attack_config import AttackConfig
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.data import Dataset
from signfed.client_pool import InProcessPool, PoolSpec
from signfed.pool_config import PoolConfig
from signfed.process_pool import ProcessPool
from signfed.simulation import Simulation, SimulationConfig


def _run(algorithm: str = "llr", **overrides: Any) -> RunConfig:
    settings: dict[str, Any] = {
        "dataset": "digits",
        "num_clients": 8,
        "clients_per_round": 3,
        "rounds": 4,
        "learning_rate": 0.01,
        "eval_every": 2,
        "partition": "iid",
        "aggregator": AggregatorConfig(algorithm=algorithm),
    }
    settings.update(overrides)
    return RunConfig(**settings)


def _simulate(tmp_path: Path, name: str, digits: Dataset, **settings: Any) -> dict[str, Any]:
    out = tmp_path / name
    Simulation(
        SimulationConfig(out_dir=str(out), data_dir=str(tmp_path), **settings), digits
    ).run_all()
    return json.loads((out / "summary.json").read_text())


def test_a_virtual_client_sends_what_a_client_with_its_own_model_sends(
    digits: Dataset, tmp_path: Path
) -> None:
    run = _run("fedavg", local_steps=3)
    clients = PoolSpec(run, AttackConfig(), str(tmp_path), 1).clients(digits)
    flat = Simulation(SimulationConfig(run, out_dir=str(tmp_path / "x")), digits).master.flat
    for client in (5, 0, 5):  # the shared model has trained for another client between
        own = LocalTrainer(run, client, run.batch_size_for(client), digits)
        expected = clients.codec.encode(clients.algorithm.client_update(own, flat, 2, run))
        assert clients.update(flat, 2, client) == expected
    assert len({id(t.model) for t in clients.trainers()}) == 1  # one model for all eight


@pytest.mark.parametrize(
    "run, attack",
    [
        (_run("llr"), AttackConfig()),
        (_run("fedavg", local_steps=2), AttackConfig()),
        (_run("mv", partition="classes"), AttackConfig(attack="labelflip", attackers=2)),
    ],
    ids=["llr", "fedavg", "mv-labelflip"],
)
def test_the_process_pool_trains_the_in_process_model(
    digits: Dataset, tmp_path: Path, run: RunConfig, attack: AttackConfig
) -> None:
    here = _simulate(tmp_path, "here", digits, run=run, attack=attack)
    pool = PoolConfig(backend="process", workers=2)
    there = _simulate(tmp_path, "there", digits, run=run, attack=attack, pool=pool)
    assert there["model_digest"] == here["model_digest"]
    assert there["final_accuracy"] == here["final_accuracy"]


def test_a_dead_worker_fails_the_round(digits: Dataset, tmp_path: Path) -> None:
    run = _run()
    spec = PoolSpec(run, AttackConfig(), str(tmp_path), 1)
    clients = spec.clients(digits)
    flat = Simulation(SimulationConfig(run, out_dir=str(tmp_path / "x")), digits).master.flat
    pool = ProcessPool(spec, clients, workers=2)
    try:
        assert pool.updates(flat, 0, [1, 4]) == InProcessPool(clients).updates(flat, 0, [1, 4])
        for pid in list(pool._pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            pool.updates(flat, 1, [1, 4])
    finally:
        pool.close()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"backend": "thread"}, "--backend must be one of"),
        ({"workers": -1}, "--workers must be >= 0"),
        ({"ray_address": "auto"}, "add --backend ray"),
        ({"workers": 2}, "add --backend process or ray"),
    ],
)
def test_bad_pool_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PoolConfig(**settings)


def test_a_ray_address_where_nothing_listens_is_refused_at_once() -> None:
    from signfed.ray_pool import check_answers

    with socket.socket() as unused:  # a port of this machine that nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConfigError, match=f"--ray-address 127.0.0.1:{port}: no Ray cluster"):
        check_answers(f"127.0.0.1:{port}")
    check_answers("auto")  # left to Ray, which answers at once
