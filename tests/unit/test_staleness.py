"""Asynchronous updates' maths (common/staleness.py) and the server's model that applies
them (server/async_model.py), against the formulas written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.async_config import AsyncConfig
from common.staleness import buffer_scale, buffered_step, mix, staleness_weight
from server.async_model import APPLIED, BUFFERED, STALE, AsyncModel, UnknownVersion


@pytest.mark.parametrize(
    ("kind", "d", "a", "b", "expected"),
    [
        ("constant", 0, 0.5, 4, 1.0),
        ("constant", 37, 0.5, 4, 1.0),
        ("polynomial", 0, 0.5, 4, 1.0),
        ("polynomial", 3, 0.5, 4, 0.5),  # (3 + 1) ** -0.5
        ("polynomial", 8, 1.0, 4, 1 / 9),
        ("polynomial", 5, 0.0, 4, 1.0),  # a = 0: no discount
        ("hinge", 0, 10.0, 4, 1.0),
        ("hinge", 4, 10.0, 4, 1.0),  # up to b: full weight
        ("hinge", 5, 10.0, 4, 1 / 11),  # 1 / (10 * (5 - 4) + 1)
        ("hinge", 7, 0.5, 2, 1 / 3.5),
    ],
)
def test_staleness_functions_match_their_formulas(
    kind: str, d: int, a: float, b: int, expected: float
) -> None:
    assert staleness_weight(kind, d, a, b) == pytest.approx(expected, rel=1e-15)


def test_staleness_is_never_negative_and_the_name_is_checked() -> None:
    with pytest.raises(ValueError, match="staleness must be >= 0"):
        staleness_weight("constant", -1, 0.5, 4)
    with pytest.raises(ValueError, match="must be one of"):
        staleness_weight("exponential", 1, 0.5, 4)


def test_mix_is_the_convex_combination_in_one_fixed_form() -> None:
    rng = np.random.default_rng(0)
    x, x_new = rng.standard_normal((2, 1000)).astype(np.float32)
    out = mix(x, x_new, 0.3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.7 * x.astype(np.float64) + 0.3 * x_new, rtol=0, atol=1e-6)
    keep, take = np.float32(0.7), np.float32(0.3)
    assert np.array_equal(out, keep * x + take * x_new)  # the bits every replica computes
    assert np.array_equal(mix(x, x_new, 1.0), x_new)
    assert np.array_equal(mix(x, x_new, 0.0), x)


def test_buffered_step_is_the_scaled_mean() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(500).astype(np.float32)
    deltas = list(rng.standard_normal((3, 500)).astype(np.float32))
    scales = [buffer_scale(s, True) for s in (0, 3, 8)]
    assert scales == [1.0, 0.5, 1 / 3]
    scaled = (s * d.astype(np.float64) for s, d in zip(scales, deltas, strict=True))
    expected = x + 2.0 * sum(scaled) / 3
    out = buffered_step(x, deltas, scales, server_lr=2.0)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    assert buffer_scale(8, False) == 1.0
    with pytest.raises(ValueError, match="at least one"):
        buffered_step(x, [], [], 1.0)


def _vectors(n: int = 64) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(2)
    return tuple(rng.standard_normal((4, n)).astype(np.float32))


def test_fedasync_applies_each_update_discounted_by_its_staleness() -> None:
    x0, a, b, c = _vectors()
    model = AsyncModel(AsyncConfig(mode="fedasync", alpha=0.5), 1.0, x0)
    first = model.receive(client=2, base_version=0, row=a)
    assert (first.status, first.staleness, first.version, first.weight) == (APPLIED, 0, 1, 0.5)
    assert np.array_equal(model.flat, mix(x0, a, 0.5))
    # trained from version 0 while the server moved to 1: polynomial a = 0.5
    second = model.receive(client=0, base_version=0, row=b)
    assert second.staleness == 1 and second.weight == pytest.approx(0.5 * 2**-0.5)
    assert np.array_equal(model.flat, mix(mix(x0, a, 0.5), b, 0.5 * 2**-0.5))
    assert model.version == 2


def test_too_stale_is_refused_and_changes_nothing() -> None:
    x0, a, b, _ = _vectors()
    model = AsyncModel(AsyncConfig(mode="fedasync", max_staleness=1), 1.0, x0)
    for _ in range(2):
        model.receive(client=0, base_version=model.version, row=a)
    before = model.flat
    refused = model.receive(client=1, base_version=0, row=b)  # staleness 2 > 1
    assert (refused.status, refused.staleness, refused.version, refused.weight) == (STALE, 2, 2, 0)
    assert model.flat is before and model.version == 2
    assert model.receive(client=1, base_version=1, row=b).status == APPLIED  # 1 is fine


@pytest.mark.parametrize("base", [-1, 1])
def test_a_version_the_server_never_had_is_an_error(base: int) -> None:
    x0, a, _, _ = _vectors()
    model = AsyncModel(AsyncConfig(mode="fedbuff"), 1.0, x0)
    with pytest.raises(
        UnknownVersion, match=f"claims version {base}; this server has versions 0..0"
    ):
        model.receive(client=3, base_version=base, row=a)
    assert model.buffered == 0


def test_fedbuff_steps_once_its_buffer_is_full() -> None:
    x0, a, b, c = _vectors()
    model = AsyncModel(AsyncConfig(mode="fedbuff", buffer_size=2), 0.8, x0)
    assert model.receive(client=0, base_version=0, row=a).status == BUFFERED
    assert model.version == 0 and model.flat is not None and np.array_equal(model.flat, x0)
    step = model.receive(client=1, base_version=0, row=b)
    assert (step.status, step.version) == (APPLIED, 1)
    assert np.array_equal(model.flat, buffered_step(x0, [a, b], [1.0, 1.0], 0.8))
    late = model.receive(client=2, base_version=0, row=c)  # staleness 1: scaled 1/sqrt(2)
    assert (late.status, late.weight) == (BUFFERED, pytest.approx(1 / math.sqrt(2)))
    assert model.buffered == 1


def test_an_async_model_needs_a_mode() -> None:
    with pytest.raises(ValueError, match="--async fedasync or fedbuff"):
        AsyncModel(AsyncConfig(), 1.0, np.zeros(4, np.float32))
