"""The server's checkpoint: what goes in comes out, and no run resumes another's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from common.aggregators import Aggregator
from common.algorithms import create_aggregator
from common.config import PROTOCOL_VERSION, AggregatorConfig, ConfigError, RunConfig, config_json
from common.config import run_config_from_json as from_json
from server.checkpoints import CHECKPOINT, ServerState, load_server_state, save_server_state
from server.membership import Membership

RUN = RunConfig(dataset="digits", num_clients=3, rounds=50, batch_sizes=(4, 4, 64))


def _state(n: int = 100) -> tuple[ServerState, Aggregator]:
    agg = create_aggregator(AggregatorConfig(warmup_rounds=1), n)
    rng = np.random.default_rng(0)
    for t in range(3):
        agg.aggregate(rng.integers(0, 256, (3, agg.num_bytes), dtype=np.uint8), [0, 2, 5], t)
    state = ServerState(
        flat=rng.standard_normal(n).astype(np.float32),
        round=3,
        aggregator=agg.state_dict(),
        members=[{"client_id": 0, "name": "a", "batch_size": 4}],
        metrics={
            "total_up": 10,
            "total_down": 20,
            "float32_bytes": 99,
            "last_accuracy": 0.5,
            "last_loss": 1.5,
        },  # fmt: skip
        seconds=12.5,
    )
    return state, agg


def test_round_trip(tmp_path: Path) -> None:
    state, original = _state()
    save_server_state(tmp_path, RUN, state)
    back = load_server_state(tmp_path, RUN, 100)
    assert back.round == 3 and back.seconds == 12.5
    assert back.flat.dtype == np.float32 and np.array_equal(back.flat, state.flat)
    assert back.members == state.members and back.metrics == state.metrics
    # The statistics load into a fresh aggregator, which then decides like the original.
    fresh = create_aggregator(AggregatorConfig(warmup_rounds=1), 100)
    fresh.load_state_dict(back.aggregator)
    votes = np.random.default_rng(1).integers(0, 256, (3, fresh.num_bytes), dtype=np.uint8)
    assert np.array_equal(
        fresh.aggregate(votes, [5, 0, 2], 3), original.aggregate(votes, [5, 0, 2], 3)
    )
    assert fresh.client_weight_summary() == original.client_weight_summary()


def test_other_settings_are_refused_by_name(tmp_path: Path) -> None:
    save_server_state(tmp_path, RUN, _state()[0])
    other = replace(RUN, rounds=60, aggregator=AggregatorConfig(algorithm="mv"))
    with pytest.raises(ConfigError, match=r"other settings \(rounds, aggregator.algorithm\)"):
        load_server_state(tmp_path, other, 100)


def test_missing_or_foreign_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint.npz there"):
        load_server_state(tmp_path, RUN, 100)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_server_state(tmp_path, RUN, 100)


def test_config_json_round_trip() -> None:
    assert from_json(config_json(RUN)) == RUN


def test_membership_snapshot_restores_ids_by_name() -> None:
    m = Membership(capacity=3)
    a = m.join(version=PROTOCOL_VERSION, name="a", batch_size=4, requested_id=-1)
    m.join(version=PROTOCOL_VERSION, name="b", batch_size=0, requested_id=2)
    snapshot = m.snapshot()
    assert snapshot == [
        {"client_id": 0, "name": "a", "batch_size": 4},
        {"client_id": 2, "name": "b", "batch_size": 64},
    ]
    restored = Membership(capacity=3)
    restored.restore(snapshot)
    again = restored.join(version=PROTOCOL_VERSION, name="b", batch_size=0, requested_id=-1)
    assert again.client_id == 2
    assert (
        restored.join(version=PROTOCOL_VERSION, name="c", batch_size=0, requested_id=-1).client_id
        == 1
    )
    # Old sessions do not survive a restart: everyone joins again.
    with pytest.raises(Exception, match="call Join first"):
        restored.verify(0, a.session)
