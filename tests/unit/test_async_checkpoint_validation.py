"""An asynchronous server's checkpoint: its AsyncModel state (version, FedBuff's buffer)
in the aggregator's place and its settings in the meta; it loads only into a server of
the same asynchronous settings, and a damaged buffer is refused with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.async_config import AsyncConfig
from common.config import AggregatorConfig, ConfigError, RunConfig
from server.async_model import BUFFERED, AsyncModel
from server.checkpoints import ServerState, load_server_state, save_server_state

N = 50
RUN = RunConfig(dataset="digits", num_clients=3, rounds=40,
                aggregator=AggregatorConfig(algorithm="fedavg"))  # fmt: skip
FEDBUFF = AsyncConfig(mode="fedbuff", buffer_size=4)
TOTALS = {"total_up": 1, "total_down": 2, "float32_bytes": 3, "last_accuracy": None,
          "last_loss": None}  # fmt: skip


def _save(out: Path, config: AsyncConfig = FEDBUFF, **arrays: np.ndarray) -> AsyncModel:
    """A FedBuff model one step and two buffered deltas in, checkpointed at update 6."""
    rng = np.random.default_rng(1)
    model = AsyncModel(config, 1.0, rng.standard_normal(N).astype(np.float32))
    for client in range(6):
        model.receive(client % 3, model.version, rng.standard_normal(N).astype(np.float32))
    state = {**model.state_dict(), **arrays}
    save_server_state(out, RUN, ServerState(model.flat, 6, state, [], TOTALS, 1.0), None, config)
    return model


def test_it_resumes_the_version_and_the_buffer(tmp_path: Path) -> None:
    saved = _save(tmp_path)
    state = load_server_state(tmp_path, RUN, N, FEDBUFF)
    model = AsyncModel(FEDBUFF, 1.0, np.zeros(N, np.float32))
    model.load_state_dict(state.flat, state.aggregator)
    assert (state.round, model.version, model.buffered) == (6, 1, 2)
    # the next two updates behave as they would have in the run that was stopped
    delta = np.full(N, 0.5, np.float32)
    for m in (model, saved):
        assert m.receive(0, 1, delta).status == BUFFERED
    assert model.receive(1, 0, delta).version == saved.receive(1, 0, delta).version == 2
    assert np.array_equal(model.flat, saved.flat)


@pytest.mark.parametrize(
    "ours, says",
    [
        (AsyncConfig(mode="fedasync"), "other asynchronous settings"),
        (AsyncConfig(mode="fedbuff", buffer_size=5), "other asynchronous settings"),
        (AsyncConfig(), "other asynchronous settings"),  # a server of rounds
    ],
)  # fmt: skip
def test_other_settings_are_refused(tmp_path: Path, ours: AsyncConfig, says: str) -> None:
    _save(tmp_path)
    with pytest.raises(ConfigError, match=says):
        load_server_state(tmp_path, RUN, N, ours)


def test_a_round_checkpoint_is_not_an_asynchronous_one(tmp_path: Path) -> None:
    _save(tmp_path)
    with pytest.raises(ConfigError, match="rounds"):
        load_server_state(tmp_path, RUN, N)


@pytest.mark.parametrize(
    "arrays, says",
    [
        ({"buffer": np.full((2, N), np.nan, np.float32)}, "aggregator.buffer has non-finite"),
        ({"buffer": np.zeros((2, N + 1), np.float32)}, "aggregator does not load"),
        ({"buffer": np.zeros((4, N), np.float32), "scales": np.ones(4)}, "does not load"),
        ({"version": np.array([1.5])}, "aggregator.version is float64"),
    ],
)  # fmt: skip
def test_a_damaged_state_is_refused(tmp_path: Path, arrays: dict, says: str) -> None:
    _save(tmp_path, **arrays)
    with pytest.raises(ConfigError, match=says):
        load_server_state(tmp_path, RUN, N, FEDBUFF)
