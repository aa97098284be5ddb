"""FedAvg: local epochs as a pure function of (seed, client, round), the server
optimizers against their float64 formulas, weights by examples, x + U on replicas,
and partial participation drawn alike everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from client.trainer import LocalTrainer
from common.algorithms import create_aggregator, get_algorithm
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.data import Dataset
from common.models import as_model_input
from common.params import get_flat, set_flat
from common.sampling import local_batches, participants
from signfed.simulation import Simulation, SimulationConfig


def _run(**overrides: object) -> RunConfig:
    settings: dict[str, object] = {
        "dataset": "digits",
        "num_clients": 4,
        "rounds": 6,
        "learning_rate": 0.05,
        "partition": "iid",
        "eval_every": 3,
        "aggregator": AggregatorConfig(algorithm="fedavg"),
    }
    settings.update(overrides)
    return RunConfig(**settings)  # type: ignore[arg-type]


def test_local_epochs_visit_every_example_once_per_epoch() -> None:
    batches = local_batches(10, 4, round_index=3, seed=1, client_id=2, epochs=2)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]  # the last batch of an epoch is short
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)  # each epoch is its own permutation
    again = local_batches(10, 4, round_index=3, seed=1, client_id=2, epochs=2)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other_round = local_batches(10, 4, round_index=4, seed=1, client_id=2, epochs=1)
    assert not np.array_equal(np.concatenate(other_round), first)
    steps = local_batches(10, 4, round_index=3, seed=1, client_id=2, epochs=1, steps=5)
    assert [len(b) for b in steps] == [4, 4, 2, 4, 4]  # steps run on into the next pass
    assert all(np.array_equal(a, b) for a, b in zip(steps, batches[:5], strict=True))


def test_participants_are_k_sorted_ids_drawn_by_round() -> None:
    assert participants(0, 5, 6, 0) == participants(0, 5, 6, 6) == tuple(range(6))
    drawn = [participants(3, t, 15, 5) for t in range(40)]
    assert all(len(d) == 5 and list(d) == sorted(set(d)) and max(d) < 15 for d in drawn)
    assert len(set(drawn)) > 30  # re-drawn each round
    assert participants(3, 7, 15, 5) == drawn[7]  # a pure function of (seed, round)
    counts = np.bincount(np.concatenate(drawn), minlength=15)
    assert counts.min() > 0  # everyone trains now and then
    assert _run(clients_per_round=2).drawn(4) == participants(0, 4, 4, 2)
    with pytest.raises(ConfigError, match="--clients-per-round must be in"):
        _run(clients_per_round=5)


def test_local_delta_is_plain_sgd_on_the_round_batches(digits: Dataset) -> None:
    run = _run(client_momentum=0.5, weight_decay=1e-3, local_epochs=1)
    trainer = LocalTrainer(run, 1, 32, digits)
    flat = get_flat(trainer.model)
    delta = trainer.local_delta(flat, 2)
    # the reference: the same batches through torch's SGD, written out here
    model = LocalTrainer(run, 1, 32, digits).model
    set_flat(model, flat)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=float(np.float32(0.05)), momentum=0.5, weight_decay=1e-3
    )
    for positions in local_batches(len(trainer.shard), 32, 2, 0, 1, epochs=1):
        batch = torch.from_numpy(trainer.shard[positions])
        optimizer.zero_grad()
        loss = F.cross_entropy(model(as_model_input(digits.train_x[batch])), digits.train_y[batch])
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert np.array_equal(delta, get_flat(model) - flat)
    assert np.array_equal(trainer.local_delta(flat, 2), delta)  # again: the same bits
    assert not np.array_equal(trainer.local_delta(flat, 3), delta)  # another round's batches
    assert trainer.num_examples == len(trainer.shard)


def _optimizer_reference(kind: str, deltas: list[np.ndarray], c: AggregatorConfig) -> list:
    m = v = np.zeros_like(deltas[0])
    out = []
    for d in deltas:
        if kind == "sgd":
            out.append(c.server_lr * d)
        elif kind == "momentum":
            m = c.server_momentum * m + d
            out.append(c.server_lr * m)
        else:
            m = c.adam_beta1 * m + (1 - c.adam_beta1) * d
            v = c.adam_beta2 * v + (1 - c.adam_beta2) * d**2
            out.append(c.server_lr * m / (np.sqrt(v) + c.adam_tau))
    return out


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_server_optimizers_follow_their_formulas(kind: str) -> None:
    config = AggregatorConfig(algorithm="fedavg", server_optimizer=kind, server_lr=0.7)
    agg = create_aggregator(config, 6)
    rng = np.random.default_rng(1)
    rows = [rng.standard_normal((3, 6)).astype(np.float32) for _ in range(4)]
    weights = np.array([1.0, 2.0, 5.0])
    means = [weights / weights.sum() @ r.astype(np.float64) for r in rows]
    expected = _optimizer_reference(kind, means, config)
    for t, (r, e) in enumerate(zip(rows, expected, strict=True)):
        got = agg.aggregate(r, [0, 1, 2], t, weights)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, e.astype(np.float32), rtol=1e-6, atol=1e-7)
        if t == 1:  # a checkpoint between rounds continues the same sequence
            restored = create_aggregator(config, 6)
            restored.load_state_dict(agg.state_dict())
            agg = restored
    assert set(agg.state_dict()) == {"sgd": set(), "momentum": {"server_m"},
                                     "adam": {"server_m", "server_v"}}[kind]  # fmt: skip
    with pytest.raises(ValueError, match="keeps"):
        create_aggregator(AggregatorConfig(algorithm="fedavg"), 6).load_state_dict(
            {"server_m": np.zeros(6)}
        )


def test_fedavg_weighs_by_examples_and_replicas_add_the_update() -> None:
    fedavg = get_algorithm("fedavg")
    assert fedavg.row_weight(batch_size=64, num_examples=4000) == 4000.0
    assert get_algorithm("sgd").row_weight(batch_size=64, num_examples=4000) == 64.0
    flat = np.array([1.0, -2.0, 3.0], np.float32)
    update = np.array([0.5, 0.25, -1.0], np.float32)
    assert np.array_equal(fedavg.apply(flat, update, learning_rate=123.0), flat + update)


def test_partial_participation_trains_only_the_drawn_clients(
    tmp_path: Path, digits: Dataset
) -> None:
    run = _run(num_clients=5, clients_per_round=2, rounds=4, eval_every=2)
    sim = Simulation(SimulationConfig(run=run, out_dir=str(tmp_path)), dataset=digits)
    called: list[tuple[int, list[int]]] = []
    updates = sim.pool.updates

    def spy(flat: np.ndarray, t: int, ids: list[int]) -> list[bytes]:
        called.append((t, list(ids)))
        return updates(flat, t, ids)

    sim.pool.updates = spy  # type: ignore[method-assign]
    records = [sim.step(t) for t in range(4)]
    assert called == [(t, list(run.drawn(t))) for t in range(4)]
    assert [r["clients"] for r in records] == [2, 2, 2, 2]
    n = sim.num_params
    assert all(r["bytes_up"] < 2 * 4 * n + 1000 for r in records)  # two float32 rows
    assert all(r["bytes_down"] > 5 * 4 * n for r in records)  # all five get the decision
