"""The in-process simulation: resumes bit-exactly, refuses foreign checkpoints, and its
sgd baseline is plain SGD on the union of the clients' minibatches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.config import AggregatorConfig, ConfigError, RunConfig
from common.data import Dataset
from server.checkpoints import CHECKPOINT
from signfed.simulation import Simulation, SimulationConfig

TIMING = ("seconds", "round_ms", "aggregate_ms")


def _run(**overrides: Any) -> RunConfig:
    settings: dict[str, Any] = {
        "dataset": "digits",
        "num_clients": 3,
        "rounds": 12,
        "learning_rate": 0.01,
        "eval_every": 4,
        "batch_sizes": (4, 8, 64),
        "aggregator": AggregatorConfig(algorithm="llr", warmup_rounds=3),
    }
    settings.update(overrides)
    return RunConfig(**settings)


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_bits(
    tmp_path: Path, digits: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run()
    straight = Simulation(SimulationConfig(run, out_dir=str(tmp_path / "a")), digits).run_all()

    out = tmp_path / "b"
    config = SimulationConfig(run, out_dir=str(out), checkpoint_every=5)
    doomed = Simulation(config, digits)
    real_step = doomed.step

    def step_until_killed(t: int) -> dict[str, Any]:
        if t == 8:
            raise KeyboardInterrupt  # as if the process died during round 8
        return real_step(t)

    monkeypatch.setattr(doomed, "step", step_until_killed)
    with pytest.raises(KeyboardInterrupt):
        doomed.run_all()
    assert (out / CHECKPOINT).exists()
    assert len(_records(out)) == 8  # rounds 0-7; 5-7 come after the checkpoint

    resumed = Simulation(config, digits).run_all()
    assert resumed["model_digest"] == straight["model_digest"]
    assert _records(out) == _records(tmp_path / "a")  # rounds 5-7 written once, not twice
    assert resumed["total_bytes"] == straight["total_bytes"]
    assert not (out / CHECKPOINT).exists()


def test_a_checkpoint_of_other_settings_is_refused_and_kept(
    tmp_path: Path, digits: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    sim = Simulation(SimulationConfig(_run(), out_dir=str(out), checkpoint_every=2), digits)
    real_step = sim.step
    monkeypatch.setattr(sim, "step", lambda t: real_step(t) if t < 3 else 1 / 0)
    with pytest.raises(ZeroDivisionError):
        sim.run_all()
    other = SimulationConfig(_run(learning_rate=0.02), out_dir=str(out))
    with pytest.raises(ConfigError, match="belongs to a run with other settings.*learning_rate"):
        Simulation(other, digits).run_all()
    assert (out / CHECKPOINT).exists()


def test_sgd_steps_by_the_batch_weighted_mean_gradient(digits: Dataset, tmp_path: Path) -> None:
    run = _run(rounds=1, aggregator=AggregatorConfig(algorithm="sgd"))
    sim = Simulation(SimulationConfig(run, out_dir=str(tmp_path)), digits)
    x0 = sim.master.flat.copy()
    gradients = [t.gradient(x0, 0) for t in sim.pool.clients.trainers()]  # type: ignore[attr-defined]
    record = sim.step(0)
    expected = sum(b * g.astype(np.float64) for b, g in zip((4, 8, 64), gradients, strict=True))
    step = x0.astype(np.float64) - sim.master.flat
    # x1 = x0 - lr * g is rounded to float32: off by at most an ulp of the largest |x|.
    ulp = float(np.spacing(np.abs(x0).max()))
    np.testing.assert_allclose(step, float(np.float32(0.01)) * expected / 76, rtol=0, atol=ulp)
    # float32 payloads each way (4 bytes a coordinate), plus a few dozen bytes of message
    # fields and gRPC framing per client; down also the RoundStart and the digest.
    payload = 3 * 4 * sim.num_params
    assert payload < record["bytes_up"] <= payload + 3 * 40
    assert payload < record["bytes_down"] <= payload + 3 * (40 + 50 + 40)
    assert "client_weights" not in record


def test_llr_records_each_clients_weight_at_evaluations(digits: Dataset, tmp_path: Path) -> None:
    summary = Simulation(SimulationConfig(_run(), out_dir=str(tmp_path)), digits).run_all()
    records = _records(tmp_path)
    evaluated = [r for r in records if "accuracy" in r]
    assert [r["round"] for r in evaluated] == [3, 7, 11]
    assert all(r["client_weights"].keys() == {"0", "1", "2"} for r in evaluated)
    assert not any("client_weights" in r for r in records if "accuracy" not in r)
    last = evaluated[-1]["client_weights"]
    assert last["2"] > last["0"]  # batch 64 disagrees with the decision less than batch 4
    assert summary["final_accuracy"] == evaluated[-1]["accuracy"]
    assert summary["runner"] == "simulate"


def test_each_round_moves_every_coordinate_by_that_rounds_lr(
    digits: Dataset, tmp_path: Path
) -> None:
    run = _run(rounds=8, lr_schedule="step", aggregator=AggregatorConfig(algorithm="mv"))
    sim = Simulation(SimulationConfig(run, out_dir=str(tmp_path)), digits)
    for t in range(8):
        before = sim.master.flat.astype(np.float64)
        sim.step(t)
        moved = np.abs(sim.master.flat.astype(np.float64) - before)
        np.testing.assert_allclose(moved, run.learning_rate_at(t), rtol=1e-3)
