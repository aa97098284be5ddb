"""A damaged or crafted checkpoint is refused with one line naming the file and the field;
a well-formed one of this run loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.algorithms import create_aggregator
from common.checkpoint import Checkpoint, load_checkpoint
from common.config import AggregatorConfig, ConfigError, RunConfig
from server.checkpoints import CHECKPOINT, ServerState, load_server_state, save_server_state

N = 100  # parameters of the (pretend) model
RUN = RunConfig(dataset="digits", num_clients=3, rounds=50, aggregator=AggregatorConfig())
MEMBERS = [{"client_id": 0, "name": "a", "batch_size": 4}, {"client_id": 2, "name": "b",
           "batch_size": 64}]  # fmt: skip
TOTALS = {"total_up": 10, "total_down": 20, "float32_bytes": 99, "last_accuracy": 0.5,
          "last_loss": 1.5}  # fmt: skip


def _save_good(out: Path) -> Checkpoint:
    agg = create_aggregator(RUN.aggregator, N)
    rng = np.random.default_rng(0)
    for t in range(3):
        agg.aggregate(rng.integers(0, 256, (2, agg.num_bytes), dtype=np.uint8), [0, 2], t)
    flat = rng.standard_normal(N).astype(np.float32)
    save_server_state(out, RUN, ServerState(flat, 3, agg.state_dict(), MEMBERS, TOTALS, 12.5))
    return load_checkpoint(out / CHECKPOINT)


def _craft(out: Path, change: Callable[[Checkpoint], Checkpoint]) -> None:
    """A checkpoint as save_checkpoint lays it out, with any content (a float64 model)."""
    c = change(_save_good(out))
    meta = {"format": "signfed.checkpoint.v1", "round": c.round, **c.meta}
    raw = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(out / CHECKPOINT, "wb") as f:
        np.savez(f, flat=c.flat, meta=raw, **c.arrays)


def _meta(**fields: Any) -> Callable[[Checkpoint], Checkpoint]:
    return lambda c: Checkpoint(c.flat, c.round, c.arrays, {**c.meta, **fields})


def _without(key: str) -> Callable[[Checkpoint], Checkpoint]:
    return lambda c: Checkpoint(c.flat, c.round, c.arrays, {k: v for k, v in c.meta.items()
                                                           if k != key})  # fmt: skip


def _arrays(**arrays: np.ndarray) -> Callable[[Checkpoint], Checkpoint]:
    return lambda c: Checkpoint(c.flat, c.round, {**c.arrays, **arrays}, c.meta)


def _round(r: int) -> Callable[[Checkpoint], Checkpoint]:
    return lambda c: Checkpoint(c.flat, r, c.arrays, c.meta)


def _flat(flat: np.ndarray) -> Callable[[Checkpoint], Checkpoint]:
    return lambda c: Checkpoint(flat, c.round, c.arrays, c.meta)


def test_a_good_checkpoint_loads(tmp_path: Path) -> None:
    _save_good(tmp_path)
    state = load_server_state(tmp_path, RUN, N)
    assert state.round == 3 and state.members == MEMBERS and state.metrics == TOTALS


CRAFTED = {
    "round -5": (_round(-5), r"round -5 is not in \[0, 50\)"),
    "round 999999": (_round(999999), r"round 999999 is not in \[0, 50\)"),
    "finished": (_round(50), r"is at round 50 of 50: that run has finished its rounds"),
    "wrong size": (_flat(np.zeros(N - 1, np.float32)), r"model is float32 \(99,\); this run's "
                   r"is float32 \(100,\)"),
    "wrong dtype": (_flat(np.zeros(N, np.float64)), r"model is float64"),
    "nan model": (_flat(np.full(N, np.nan, np.float32)), r"model has 100 non-finite values"),
    "no members": (_without("members"), r"'members' is missing"),
    "no seconds": (_without("seconds"), r"'seconds' is missing"),
    "member id out of range": (_meta(members=[{"client_id": 7, "name": "a", "batch_size": 4}]),
                               r"members\[0\] client_id 7 is not in \[0, 3\)"),
    "duplicate members": (_meta(members=[MEMBERS[0], {**MEMBERS[1], "name": "a"}]),
                          r"members\[1\] repeats"),
    "bad name": (_meta(members=[{"client_id": 0, "name": "a b", "batch_size": 4}]),
                 r"members\[0\] name 'a b' is not a client name"),
    "batch 0": (_meta(members=[{"client_id": 0, "name": "a", "batch_size": 0}]),
                r"members\[0\] batch_size 0"),
    "members not a list": (_meta(members={"a": 1}), r"members must be a list"),
    "negative total": (_meta(metrics={**TOTALS, "total_up": -1}), r"metrics.total_up -1"),
    "float total": (_meta(metrics={**TOTALS, "total_down": 1.5}), r"metrics.total_down 1.5"),
    "nan seconds": (_meta(seconds=float("nan")), r"seconds nan is not a finite number"),
    "negative seconds": (_meta(seconds=-1), r"seconds -1 is not a finite number >= 0"),
    "foreign array": (_arrays(weights=np.zeros(3)), r"arrays \['weights'\] are not"),
    "missing aggregator array": (
        lambda c: Checkpoint(c.flat, c.round, {k: v for k, v in c.arrays.items()
                                               if not k.endswith("seen")}, c.meta),
        r"aggregator arrays \['client_ids', 'counts', 'rounds'\] are not"),
    "counts of another width": (
        _arrays(**{"aggregator.counts": np.zeros((2, N + 1), np.int32)}),
        r"aggregator.counts is int32 \(2, 101\); expected int32 \('K', 100\)"),
    "nan rounds": (_arrays(**{"aggregator.rounds": np.full(2, np.nan)}),
                   r"aggregator.rounds has non-finite values"),
    "more rows than clients": (
        _arrays(**{"aggregator.seen": np.zeros(4, np.int64)}),
        r"aggregator.seen has 4 rows for a cohort of 3"),
    "inconsistent aggregator": (_arrays(**{"aggregator.seen": np.zeros(1, np.int64)}),
                                r"aggregator does not load"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_checkpoint_is_refused_naming_the_field(tmp_path: Path, case: str) -> None:
    change, message = CRAFTED[case]
    _craft(tmp_path, change)
    with pytest.raises(ConfigError, match=message) as info:
        load_server_state(tmp_path, RUN, N)
    assert str(tmp_path / CHECKPOINT) in str(info.value) and "\n" not in str(info.value)


def _npz_bytes(tmp_path: Path, **named: Any) -> bytes:
    path = tmp_path / "scratch.npz"
    np.savez(path, **named)
    return path.read_bytes()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda good, _: good[: len(good) // 2], "is not a readable checkpoint"),
        (lambda good, _: bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8)),
         "is not a readable checkpoint"),
        (lambda good, _: b"", "is not a readable checkpoint"),
        (lambda _, tmp: _npz_bytes(tmp, flat=np.zeros(3, np.float32)),
         r"is not a signfed checkpoint \(no model or metadata\)"),
        (lambda _, tmp: _npz_bytes(tmp, flat=np.zeros(3), meta=np.frombuffer(b"\xff{", np.uint8)),
         "'meta' is not JSON"),
        (lambda _, tmp: _npz_bytes(tmp, flat=np.zeros(3), meta=np.frombuffer(b"[1]", np.uint8)),
         "'meta' must be a JSON object"),
        (lambda _, tmp: _npz_bytes(tmp, flat=np.zeros(3), meta=np.frombuffer(
            json.dumps({"format": "signfed.checkpoint.v1", "round": 2.5}).encode(), np.uint8)),
         "'round' must be an integer"),
    ],
)  # fmt: skip
def test_unreadable_files_are_one_value_error(
    tmp_path: Path, damage: Callable[[bytes, Path], bytes], message: str
) -> None:
    _save_good(tmp_path)
    path = tmp_path / CHECKPOINT
    path.write_bytes(damage(path.read_bytes(), tmp_path))
    with pytest.raises(ValueError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=message):  # and to the server, a ConfigError
        load_server_state(tmp_path, RUN, N)


def test_a_damaged_run_configuration_is_refused(tmp_path: Path) -> None:
    _craft(tmp_path, _meta(config={"rounds": "many"}))
    with pytest.raises(ConfigError, match="config is not a run configuration"):
        load_server_state(tmp_path, RUN, N)
