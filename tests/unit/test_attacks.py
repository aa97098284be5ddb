"""Attacking clients: the seeded choice of ids, each attack's vector, and an attacker
in the simulation sending what common/attacks.py says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from client.attacker import is_attacker, trainer_for
from common.attack_config import AttackConfig
from common.attacks import alie_z, attacker_ids, corrupt, flipped_labels, noise_rng
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.data import Dataset
from signfed.simulation import Simulation, SimulationConfig


def test_attacker_ids_are_seeded_sorted_and_distinct() -> None:
    ids = attacker_ids(0, 15, 3)
    assert len(ids) == 3 == len(set(ids)) and list(ids) == sorted(ids) and max(ids) < 15
    assert attacker_ids(0, 15, 3) == ids and attacker_ids(1, 15, 6) != attacker_ids(0, 15, 6)
    assert attacker_ids(0, 15, 0) == () and attacker_ids(0, 4, 4) == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="--attackers must be in"):
        attacker_ids(0, 4, 5)


def test_each_attack_sends_what_it_says() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1000).astype(np.float32)
    colluders = rng.standard_normal((3, 1000)).astype(np.float32)

    def attack(kind: str, scale: float = 0.0) -> np.ndarray:
        return corrupt(kind, u, scale=scale, rng=noise_rng(0, 1, 2), colluders=colluders,
                       num_clients=15, attackers=3)  # fmt: skip

    assert np.array_equal(attack("none"), u) and np.array_equal(attack("labelflip"), u)
    assert np.array_equal(attack("negate"), -u)
    assert np.array_equal(attack("negate", 4.0), np.float32(-4.0) * u)
    flipped = attack("random")
    assert np.array_equal(np.abs(flipped), np.abs(u))  # signs only
    assert 0.4 < np.mean(np.sign(flipped) != np.sign(u)) < 0.6
    assert np.array_equal(flipped, attack("random"))  # seeded by (seed, client, round)
    noise = attack("gauss", 3.0)
    assert abs(noise.std() - 3.0) < 0.3 and abs(np.corrcoef(noise, u)[0, 1]) < 0.1
    mu, sigma = colluders.astype(np.float64).mean(0), colluders.astype(np.float64).std(0)
    z = alie_z(15, 3)  # s = floor(15/2 + 1) - 3 = 5 supporters: Phi^-1(10/15)
    assert z == pytest.approx(0.4307, abs=1e-4)
    np.testing.assert_allclose(attack("alie"), mu - z * sigma, rtol=1e-6)
    np.testing.assert_allclose(attack("alie", 1.5), mu - 1.5 * sigma, rtol=1e-6)
    np.testing.assert_allclose(attack("ipm"), -0.1 * mu, rtol=1e-6)
    with pytest.raises(ValueError, match="needs the colluders' honest updates"):
        corrupt("alie", u, scale=0, rng=noise_rng(0, 1, 2))
    assert list(flipped_labels(np.arange(10), 10)) == list(range(9, -1, -1))


def test_attack_settings_go_together() -> None:
    with pytest.raises(ConfigError, match="--attack and --attackers go together"):
        AttackConfig(attack="negate")
    with pytest.raises(ConfigError, match="--attack and --attackers go together"):
        AttackConfig(attackers=2)
    run = RunConfig(num_clients=4)
    attack = AttackConfig(attack="negate", attackers=1)
    assert [is_attacker(attack, run, i) for i in range(4)].count(True) == 1
    with pytest.raises(ConfigError, match="--attackers 5 exceeds --clients 4"):
        SimulationConfig(run=run, attack=AttackConfig(attack="negate", attackers=5))


def test_a_label_flipper_trains_on_flipped_labels(digits: Dataset) -> None:
    run = RunConfig(dataset="digits", num_clients=3, partition="iid")
    attack = AttackConfig(attack="labelflip", attackers=1)
    (bad,) = attacker_ids(0, 3, 1)
    flipper = trainer_for(attack, run, bad, 8, digits)
    honest = trainer_for(attack, run, (bad + 1) % 3, 8, digits)
    assert torch.equal(flipper.labels, 9 - digits.train_y)
    assert torch.equal(honest.labels, digits.train_y)


@pytest.mark.parametrize("algorithm", ["fedavg", "llr"])
def test_the_simulation_sends_the_attackers_vectors(
    tmp_path: Path, digits: Dataset, algorithm: str
) -> None:
    run = RunConfig(
        dataset="digits", num_clients=4, rounds=2, learning_rate=0.05, partition="iid",
        aggregator=AggregatorConfig(algorithm=algorithm),
    )  # fmt: skip
    attack = AttackConfig(attack="negate", attackers=1)
    (bad,) = attacker_ids(0, 4, 1)
    honest = Simulation(SimulationConfig(run=run, out_dir=str(tmp_path / "h")), dataset=digits)
    config = SimulationConfig(run=run, out_dir=str(tmp_path / "a"), attack=attack)
    attacked = Simulation(config, dataset=digits)
    flat = honest.master.flat
    clean = honest.pool.updates(flat, 0, [0, 1, 2, 3])
    sent = attacked.pool.updates(flat, 0, [0, 1, 2, 3])
    for i in range(4):
        row, expected = attacked.engine.decode(sent[i]), honest.engine.decode(clean[i])
        if i != bad:
            assert np.array_equal(row, expected)
        elif algorithm == "fedavg":
            assert np.array_equal(row, -expected)
        else:  # packed signs: every bit inverted but where the gradient is exactly zero
            flipped = np.unpackbits(row ^ expected, bitorder="little")[: attacked.num_params]
            assert flipped.mean() > 0.5
    summary = attacked.run_all()
    assert summary["attack"] == {"attack": "negate", "attackers": 1, "attack_scale": 0.0,
                                 "ids": [bad]}  # fmt: skip


@pytest.mark.parametrize("algorithm", ["llr", "fd"])
def test_a_sign_flipper_earns_a_negative_signed_weight(
    tmp_path: Path, digits: Dataset, algorithm: str
) -> None:
    run = RunConfig(
        dataset="digits", num_clients=5, rounds=30, eval_every=15, partition="iid", seed=2,
        aggregator=AggregatorConfig(algorithm=algorithm, warmup_rounds=5),
    )  # fmt: skip
    attack = AttackConfig(attack="negate", attackers=1)
    (bad,) = attacker_ids(2, 5, 1)
    Simulation(SimulationConfig(run, out_dir=str(tmp_path), attack=attack), digits).run_all()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "client_weights_signed" in r][-1]
    signed = {int(k): w for k, w in last["client_weights_signed"].items()}
    magnitude = {int(k): w for k, w in last["client_weights"].items()}
    assert signed[bad] < 0 < min(w for i, w in signed.items() if i != bad)
    # A mean of signed weights is bounded by the mean of their magnitudes.
    assert all(abs(signed[i]) <= magnitude[i] + 1e-9 for i in signed)
