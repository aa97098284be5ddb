"""The asynchronous simulation: its virtual clock, its reproducibility, and the facts of
its timeline (a straggler blocks nobody; a refused stale update is followed by a fresh
one from the same client)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from common.async_config import AsyncConfig
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.data import Dataset
from server.metrics import MetricsWriter
from signfed.async_replay import read_order, replay
from signfed.async_simulation import AsyncSimulation
from signfed.clock import ClockConfig, VirtualClock
from signfed.simulation import Simulation
from signfed.simulation_config import SimulationConfig


def test_the_clock_is_seeded_and_the_straggler_is_its_factor_slower() -> None:
    config = ClockConfig(step_seconds=0.5, speed_spread=0.5, jitter=0.1, straggler=2)
    clock = VirtualClock(config, seed=7, steps=[10, 10, 10, 20])
    again = VirtualClock(config, seed=7, steps=[10, 10, 10, 20])
    assert [clock.duration(c, k) for c in range(4) for k in range(3)] == [
        again.duration(c, k) for c in range(4) for k in range(3)
    ]
    calm = VirtualClock(ClockConfig(step_seconds=0.5, straggler=2), seed=7, steps=[10] * 4)
    no_straggler = VirtualClock(ClockConfig(step_seconds=0.5), seed=7, steps=[10] * 4)
    assert calm.speed[2] == pytest.approx(10 * no_straggler.speed[2], rel=1e-15)
    assert calm.speed[0] == no_straggler.speed[0]
    flat = VirtualClock(ClockConfig(step_seconds=0.5, speed_spread=0, jitter=0), 7, [10, 30])
    assert (flat.duration(0, 5), flat.duration(1, 0)) == (5.0, 15.0)  # steps x seconds
    assert flat.round_close([0, 1], 0) == (15.0, [0, 1])  # a round waits for its slowest
    assert VirtualClock(config, seed=8, steps=[10] * 4).speed != clock.speed


def test_a_deadline_closes_a_round_once_the_quorum_is_in() -> None:
    def close(deadline: float, quorum: float) -> tuple[float, list[int]]:
        config = ClockConfig(
            step_seconds=1, speed_spread=0, jitter=0, virtual_clock=True,
            virtual_deadline=deadline, virtual_quorum=quorum,
        )  # fmt: skip
        return VirtualClock(config, 0, [1, 2, 3, 40]).round_close([0, 1, 2, 3], 0)

    assert close(0, 0.5) == (40, [0, 1, 2, 3])  # no deadline: the slowest sets the pace
    assert close(2.5, 0.5) == (2.5, [0, 1])  # quorum of 2 by 2 s, closed at the deadline
    assert close(1.5, 0.75) == (3, [0, 1, 2])  # the deadline passed: closed by the 3rd
    assert close(100, 0.5) == (40, [0, 1, 2, 3])  # everyone in before the deadline
    assert close(0.5, 1.0) == (40, [0, 1, 2, 3])  # a quorum of all waits for all
    with pytest.raises(ConfigError, match="add --virtual-clock"):
        ClockConfig(virtual_deadline=5)


def test_rounds_on_the_virtual_clock_leave_the_straggler_out(
    digits: Dataset, tmp_path: Path
) -> None:
    run = RunConfig(
        dataset="digits", num_clients=4, rounds=6, learning_rate=0.05, eval_every=3,
        partition="iid", local_steps=3, batch_sizes=(16,) * 4,
        aggregator=AggregatorConfig(algorithm="fedavg"),
    )  # fmt: skip
    clock = ClockConfig(straggler=3, virtual_clock=True, virtual_deadline=0.5)
    done = Simulation(SimulationConfig(run=run, out_dir=str(tmp_path / "d"), clock=clock), digits)
    done.run_all()
    records = _records(tmp_path / "d")
    assert [r["erasures"] for r in records] == [[3]] * 6 and {r["clients"] for r in records} == {3}
    times = [r["virtual_seconds"] for r in records]
    # the fast three take ~0.24 s (3 steps of 0.08 s): each round closes at its deadline
    assert times == pytest.approx([0.5 * (t + 1) for t in range(6)], abs=1e-9)
    waiting = ClockConfig(straggler=3, virtual_clock=True)
    everyone = Simulation(
        SimulationConfig(run=run, out_dir=str(tmp_path / "w"), clock=waiting), digits
    )
    everyone.run_all()
    slow = _records(tmp_path / "w")
    assert all("erasures" not in r and r["clients"] == 4 for r in slow)
    assert slow[-1]["virtual_seconds"] > 5 * times[-1]  # it waited for the straggler
    # resumed from a checkpoint, the clock continues where it was
    checkpointed = SimulationConfig(
        run=run, out_dir=str(tmp_path / "c"), clock=clock, checkpoint_every=3
    )
    first = Simulation(checkpointed, digits)
    for t in range(3):
        first.step(t)
    first._save(MetricsWriter(tmp_path / "c"), 0.0)
    resumed = Simulation(checkpointed, digits)
    resumed._open()
    assert resumed.virtual_seconds == pytest.approx(times[2], abs=1e-6)


def _config(out: Path, **asynchrony: Any) -> SimulationConfig:
    run = RunConfig(
        dataset="digits", num_clients=4, rounds=24, learning_rate=0.05, eval_every=8,
        partition="iid", local_steps=3, batch_sizes=(16,) * 4,
        aggregator=AggregatorConfig(algorithm="fedavg"),
    )  # fmt: skip
    return SimulationConfig(
        run=run,
        out_dir=str(out),
        asynchrony=AsyncConfig(**{"mode": "fedasync"} | asynchrony),
        clock=ClockConfig(straggler=3),
    )


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


@pytest.mark.parametrize("mode", ["fedasync", "fedbuff"])
def test_a_run_is_a_function_of_its_settings(digits: Dataset, tmp_path: Path, mode: str) -> None:
    extra = {"buffer_size": 3} if mode == "fedbuff" else {}
    first = AsyncSimulation(_config(tmp_path / "a", mode=mode, **extra), digits).run_all()
    second = AsyncSimulation(_config(tmp_path / "b", mode=mode, **extra), digits).run_all()
    assert first["model_digest"] == second["model_digest"]
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    records = _records(tmp_path / "a")
    times = [r["virtual_seconds"] for r in records]
    assert times == sorted(times) and len(records) == 24
    applied = sum(r["status"] == "applied" for r in records)
    assert first["versions"] == applied == (24 if mode == "fedasync" else 8)
    assert 0.1 < first["final_accuracy"] <= 1.0  # it learns: 10 classes, chance 0.1
    assert records[-1]["accuracy"] == first["final_accuracy"]


def test_a_straggler_blocks_nobody(digits: Dataset, tmp_path: Path) -> None:
    AsyncSimulation(_config(tmp_path), digits).run_all()
    records = _records(tmp_path)
    straggler = [i for i, r in enumerate(records) if r["client"] == 3]
    others = [r for r in records if r["client"] != 3]
    # the fast three keep the server moving: the straggler sends at most one of the 24
    assert len(straggler) <= 1 and len(others) >= 23
    assert [r["version"] for r in records] == list(range(1, 25))  # every update applied
    for r in records:  # each carries the version its client fetched, and its age
        assert r["staleness"] == r["version"] - 1 - r["base_version"]


def test_a_stale_update_is_refused_and_its_client_catches_up(
    digits: Dataset, tmp_path: Path
) -> None:
    summary = AsyncSimulation(_config(tmp_path, max_staleness=1), digits).run_all()
    records = _records(tmp_path)
    stale = [i for i, r in enumerate(records) if r["status"] == "stale"]
    assert stale, "the clock's spread should leave some update more than 1 version old"
    for i in stale:
        r = records[i]
        assert r["staleness"] > 1 and r["weight"] == 0
        assert r["version"] == (records[i - 1]["version"] if i else 0)  # nothing changed
        later = [x for x in records[i + 1 :] if x["client"] == r["client"]]
        if later:  # its next update starts from the version it found on its return
            assert later[0]["base_version"] == r["version"]
            assert later[0]["update"] == r["update"] + 1
    assert summary["versions"] == 24 - len(stale)
    assert not math.isnan(summary["final_loss"])


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"aggregator": AggregatorConfig(algorithm="llr")}, "needs --algorithm fedavg"),
        ({"clients_per_round": 2}, "drop --clients-per-round"),
        ({"lr_schedule": "cosine"}, "use --lr-schedule constant"),
        ({"update_encoding": "float16"}, "drop --update-encoding"),
    ],
)
def test_settings_async_cannot_use_name_their_flag(run: dict[str, Any], message: str) -> None:
    settings = {"num_clients": 4, "aggregator": AggregatorConfig(algorithm="fedavg")} | run
    with pytest.raises(ConfigError, match=message):
        SimulationConfig(run=RunConfig(**settings), asynchrony=AsyncConfig(mode="fedasync"))


def test_the_straggler_must_be_a_client() -> None:
    run = RunConfig(num_clients=4, aggregator=AggregatorConfig(algorithm="fedavg"))
    with pytest.raises(ConfigError, match="--straggler 4 is not a client id of --clients 4"):
        SimulationConfig(
            run=run, asynchrony=AsyncConfig(mode="fedbuff"), clock=ClockConfig(straggler=4)
        )


@pytest.mark.parametrize("mode", ["fedasync", "fedbuff"])
def test_a_killed_run_resumes_to_the_same_bits(
    digits: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    extra = {"buffer_size": 3} if mode == "fedbuff" else {}
    whole = AsyncSimulation(_config(tmp_path / "whole", mode=mode, **extra), digits).run_all()
    config = replace(_config(tmp_path / "cut", mode=mode, **extra), checkpoint_every=5)
    killed = AsyncSimulation(config, digits)
    step = killed.step

    def dies_at_13(n: int) -> dict[str, Any]:
        if n == 13:
            raise KeyboardInterrupt  # as a kill: the checkpoint at update 10 stays
        return step(n)

    monkeypatch.setattr(killed, "step", dies_at_13)
    with pytest.raises(KeyboardInterrupt):
        killed.run_all()
    assert (tmp_path / "cut" / "checkpoint.npz").exists()
    assert len(_records(tmp_path / "cut")) == 13  # 10 .. 12 will be received again
    resumed = AsyncSimulation(config, digits).run_all()
    assert resumed["model_digest"] == whole["model_digest"]
    assert _records(tmp_path / "cut") == _records(tmp_path / "whole")
    for key in ("bytes_down_delta", "virtual_seconds", "versions", "bytes_up", "bytes_down"):
        assert resumed[key] == whole[key], key
    assert not (tmp_path / "cut" / "checkpoint.npz").exists()


def test_a_checkpoint_of_other_settings_is_refused(digits: Dataset, tmp_path: Path) -> None:
    config = replace(_config(tmp_path), checkpoint_every=5)
    sim = AsyncSimulation(config, digits)
    sim._open()
    for n in range(5):
        sim.step(n)
    sim._save(5, MetricsWriter(tmp_path), 1.0)
    other = replace(config, asynchrony=replace(config.asynchrony, alpha=0.3))
    with pytest.raises(ConfigError, match=r"other settings \(asynchrony\)"):
        AsyncSimulation(other, digits).run_all()
    assert (tmp_path / "checkpoint.npz").exists()  # kept for its own run


REPLAYED = ("client", "update", "base_version", "staleness", "status", "version", "weight",
            "accuracy", "loss")  # fmt: skip


def test_a_replayed_order_gives_the_same_model(digits: Dataset, tmp_path: Path) -> None:
    """The order of another clock (another speed spread) replayed here: the bits follow
    the order, not this run's clock."""
    config = _config(tmp_path / "ours", mode="fedbuff", buffer_size=3, max_staleness=3)
    ours = AsyncSimulation(config, digits).run_all()
    theirs_config = replace(
        config, out_dir=str(tmp_path / "theirs"), clock=replace(config.clock, speed_spread=0.9)
    )
    theirs = AsyncSimulation(theirs_config, digits).run_all()
    assert theirs["model_digest"] != ours["model_digest"]  # another order, another model
    order = read_order(tmp_path / "theirs" / "metrics.jsonl", 4, 24)
    replayed = replay(AsyncSimulation(replace(config, out_dir=str(tmp_path / "r")), digits), order)
    assert replayed["model_digest"] == theirs["model_digest"] and replayed["replayed"]

    def fields(out: Path) -> list[dict[str, Any]]:
        return [{k: r.get(k) for k in REPLAYED} for r in _records(out)]

    assert fields(tmp_path / "r") == fields(tmp_path / "theirs")


def test_a_replay_that_does_not_fit_is_refused(digits: Dataset, tmp_path: Path) -> None:
    config = _config(tmp_path / "run", max_staleness=1)
    AsyncSimulation(config, digits).run_all()
    recorded = tmp_path / "run" / "metrics.jsonl"
    assert any(r["status"] == "stale" for r in _records(tmp_path / "run"))
    order = read_order(recorded, 4, 24)
    unlimited = replace(
        config, out_dir=str(tmp_path / "r"), asynchrony=AsyncConfig(mode="fedasync")
    )
    with pytest.raises(ConfigError, match="was stale in the recorded run and applied here"):
        replay(AsyncSimulation(unlimited, digits), order)
    with pytest.raises(ConfigError, match="records 24 updates; --rounds is 30"):
        read_order(recorded, 4, 30)
    with pytest.raises(ConfigError, match="line [0-9]+: no client [1-3]"):
        read_order(recorded, 1, 24)  # a run of one client had no others
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"round": 0, "clients": 3}\n')
    with pytest.raises(ConfigError, match="line 1 is not an asynchronous run's record"):
        read_order(bad, 4, 1)
    with pytest.raises(ConfigError, match="No such file"):
        read_order(tmp_path / "missing.jsonl", 4, 1)
    with pytest.raises(ConfigError, match="add --async"):
        SimulationConfig(replay=str(recorded))
