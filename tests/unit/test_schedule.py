"""Learning-rate schedules: exact values, and equal bits from the wire's float32 lr."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.config import ConfigError, RunConfig
from common.schedule import learning_rate_at

LR32 = float(np.float32(1e-3))


def test_constant_is_the_float32_base_every_round() -> None:
    assert {learning_rate_at(1e-3, "constant", t, 100) for t in range(100)} == {LR32}


def test_step_drops_tenfold_at_half_and_three_quarters() -> None:
    lrs = [learning_rate_at(1e-3, "step", t, 100) for t in range(100)]
    assert lrs[49] == LR32 and lrs[50] == LR32 * 0.1
    assert lrs[74] == LR32 * 0.1 and lrs[75] == pytest.approx(LR32 * 0.01, rel=1e-12)
    assert lrs[99] == lrs[75]


def test_cosine_starts_at_the_base_and_decays_to_near_zero() -> None:
    assert learning_rate_at(1e-3, "cosine", 0, 100) == LR32
    assert learning_rate_at(1e-3, "cosine", 50, 100) == pytest.approx(LR32 / 2, rel=1e-12)
    last = learning_rate_at(1e-3, "cosine", 99, 100)
    assert last == pytest.approx(LR32 * 0.5 * (1 + math.cos(math.pi * 0.99)), rel=1e-12)
    lrs = [learning_rate_at(1e-3, "cosine", t, 100) for t in range(100)]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_server_float_and_client_float32_give_the_same_lr(schedule: str) -> None:
    # The server holds 0.003 as a Python float; clients read it back as a float32.
    client_base = float(np.float32(0.003))
    for t in range(0, 300, 7):
        assert learning_rate_at(0.003, schedule, t, 300) == learning_rate_at(
            client_base, schedule, t, 300
        )


def test_bad_schedule_and_round_are_refused() -> None:
    with pytest.raises(ValueError, match="lr schedule must be one of"):
        learning_rate_at(1e-3, "linear", 0, 10)
    with pytest.raises(ValueError, match=r"round_index must be in \[0, 10\)"):
        learning_rate_at(1e-3, "constant", 10, 10)
    with pytest.raises(ConfigError, match="--lr-schedule must be one of"):
        RunConfig(lr_schedule="exp")


def test_run_config_exposes_its_schedule() -> None:
    run = RunConfig(rounds=8, learning_rate=0.01, lr_schedule="step")
    assert [run.learning_rate_at(t) for t in (0, 4, 6)] == [
        float(np.float32(0.01)),
        float(np.float32(0.01)) * 0.1,
        pytest.approx(float(np.float32(0.01)) * 0.01, rel=1e-12),
    ]
