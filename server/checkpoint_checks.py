"""Is a checkpoint's content sane for this run? Every field checked before any is used.

A checkpoint comes from disk, and a disk may hold a damaged or crafted file. What it
says goes straight into the model, the aggregator, the membership and metrics.jsonl,
so nothing is trusted: a resume either gets a state this run could have written, or a
one-line ConfigError naming the file and the field, with nothing on disk touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from common.algorithms import create_aggregator
from common.async_config import AsyncConfig
from common.checkpoint import Checkpoint
from common.config import ConfigError, RunConfig
from common.names import name_problem
from server.async_model import AsyncModel

AGGREGATOR = "aggregator."  # array-name prefix of the aggregator's statistics
MEMBER_KEYS = {"client_id", "name", "batch_size"}  # Membership.snapshot()
COUNTER_KEYS = ("total_up", "total_down", "float32_bytes")  # MetricsWriter.totals()
LAST_KEYS = ("last_accuracy", "last_loss")
Bad = Callable[[str, str], ConfigError]  # (field, problem) -> the error to raise


def check_state(
    path: Path, ckpt: Checkpoint, run: RunConfig, num_params: int, asynchrony: AsyncConfig
) -> None:
    """ConfigError naming `path` and the first field that this run (asynchronous, with
    `asynchrony` enabled) could not have written."""

    def bad(field: str, problem: str) -> ConfigError:
        damaged = "the checkpoint is damaged or not this run's"
        return ConfigError(f"{path}: {field} {problem}; {damaged}")

    if ckpt.round == run.rounds:
        raise ConfigError(
            f"{path} is at round {ckpt.round} of {run.rounds}: that run has finished its "
            "rounds, there is nothing to resume"
        )
    if not 0 <= ckpt.round < run.rounds:
        raise bad("round", f"{ckpt.round} is not in [0, {run.rounds})")
    _check_model(ckpt.flat, num_params, bad)
    theirs = ckpt.meta.get("asynchrony")
    ours = asdict(asynchrony) if asynchrony.enabled else None
    if theirs != ours:
        raise ConfigError(
            f"{path} belongs to a run with other asynchronous settings ({theirs or 'rounds'}, "
            f"not {ours or 'rounds'}); resume it with its own settings, or use another --out"
        )
    if asynchrony.enabled:
        _check_async_state(ckpt, asynchrony, bad)
    else:
        _check_aggregator(ckpt.arrays, run, num_params, bad)
    for key in ("members", "metrics", "seconds"):
        if key not in ckpt.meta:
            raise bad(repr(key), "is missing")
    _check_members(ckpt.meta["members"], run, bad)
    _check_metrics(ckpt.meta["metrics"], bad)
    seconds = ckpt.meta["seconds"]
    if not _number(seconds) or not (math.isfinite(seconds) and seconds >= 0):
        raise bad("seconds", f"{seconds!r} is not a finite number >= 0")


def _check_model(flat: np.ndarray, num_params: int, bad: Bad) -> None:
    if flat.dtype != np.float32 or flat.shape != (num_params,):
        raise bad("model", f"is {flat.dtype} {flat.shape}; this run's is float32 ({num_params},)")
    if not np.isfinite(flat).all():
        raise bad("model", f"has {int((~np.isfinite(flat)).sum())} non-finite values")


def _check_aggregator(
    arrays: dict[str, np.ndarray], run: RunConfig, num_params: int, bad: Bad
) -> None:
    """The arrays a fresh aggregator of this run keeps: the same names, dtypes and
    trailing shapes; a leading dimension that grows from 0 (one row per client) holds at
    most the cohort. The aggregator's own load_state_dict then checks the values."""
    foreign = sorted(name for name in arrays if not name.startswith(AGGREGATOR))
    if foreign:
        raise bad("arrays", f"{foreign} are not a signfed checkpoint's")
    state = {name[len(AGGREGATOR) :]: array for name, array in arrays.items()}
    fresh = create_aggregator(run.aggregator, num_params)
    expected = fresh.state_dict()
    if set(state) != set(expected):
        raise bad("aggregator", f"arrays {sorted(state)} are not {sorted(expected)}")
    for name, want in expected.items():
        got, field = state[name], f"aggregator.{name}"
        grows = want.ndim > 0 and want.shape[0] == 0  # one row per client, added as they vote
        fits = got.shape[1:] == want.shape[1:] if grows else got.shape == want.shape
        if got.dtype != want.dtype or got.ndim != want.ndim or not fits:
            shape = ("K", *want.shape[1:]) if grows else want.shape
            raise bad(field, f"is {got.dtype} {got.shape}; expected {want.dtype} {shape}")
        if grows and got.shape[0] > run.num_clients:
            raise bad(field, f"has {got.shape[0]} rows for a cohort of {run.num_clients}")
        if got.dtype.kind == "f" and not np.isfinite(got).all():
            raise bad(field, "has non-finite values")
    try:
        fresh.load_state_dict(state)
    except ValueError as exc:
        raise bad("aggregator", f"does not load: {exc}") from None


def _check_async_state(ckpt: Checkpoint, asynchrony: AsyncConfig, bad: Bad) -> None:
    """The AsyncModel's version and FedBuff buffer: they load into a fresh one."""
    state = {name[len(AGGREGATOR) :]: a for name, a in ckpt.arrays.items()}
    fresh = AsyncModel(asynchrony, 1.0, ckpt.flat).state_dict()
    if set(state) != set(fresh):
        raise bad("aggregator", f"arrays {sorted(state)} are not {sorted(fresh)}")
    version, buffer = state["version"], state["buffer"]
    if version.dtype != np.int64 or version.shape != (1,):
        raise bad("aggregator.version", f"is {version.dtype} {version.shape}; expected int64 (1,)")
    if buffer.dtype.kind == "f" and not np.isfinite(buffer).all():
        raise bad("aggregator.buffer", "has non-finite values")
    try:
        AsyncModel(asynchrony, 1.0, ckpt.flat).load_state_dict(ckpt.flat, state)
    except (ValueError, KeyError) as exc:
        raise bad("aggregator", f"does not load: {exc}") from None


def _check_members(members: Any, run: RunConfig, bad: Bad) -> None:
    if not isinstance(members, list) or len(members) > run.num_clients:
        raise bad("members", f"must be a list of at most {run.num_clients} entries")
    ids: set[int] = set()
    names: set[str] = set()
    for i, entry in enumerate(members):
        field = f"members[{i}]"
        if not isinstance(entry, dict) or set(entry) != MEMBER_KEYS:
            raise bad(field, f"must be an object with exactly {sorted(MEMBER_KEYS)}")
        client_id, name, batch = entry["client_id"], entry["name"], entry["batch_size"]
        if type(client_id) is not int or not 0 <= client_id < run.num_clients:
            raise bad(field, f"client_id {client_id!r} is not in [0, {run.num_clients})")
        if not isinstance(name, str) or not name or name_problem(name):
            raise bad(field, f"name {name!r} is not a client name")
        if type(batch) is not int or batch < 1:
            raise bad(field, f"batch_size {batch!r} is not an integer >= 1")
        if client_id in ids or name in names:
            raise bad(field, f"repeats client id {client_id} or name {name!r}")
        ids.add(client_id)
        names.add(name)


def _check_metrics(metrics: Any, bad: Bad) -> None:
    if not isinstance(metrics, dict) or set(metrics) != {*COUNTER_KEYS, *LAST_KEYS}:
        raise bad("metrics", f"must be an object with exactly {[*COUNTER_KEYS, *LAST_KEYS]}")
    for key in COUNTER_KEYS:
        value = metrics[key]
        if type(value) is not int or value < 0:
            raise bad(f"metrics.{key}", f"{value!r} is not an integer >= 0")
    for key in LAST_KEYS:
        value = metrics[key]
        if value is not None and not (_number(value) and math.isfinite(value)):
            raise bad(f"metrics.{key}", f"{value!r} is not a finite number or null")


def _number(value: Any) -> bool:
    """A JSON number: int or float, not bool."""
    return type(value) in (int, float)
