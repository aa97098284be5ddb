"""The round-deadline policy (server/deadline.py): pure arithmetic."""

from __future__ import annotations

import pytest

from server.deadline import DEADLINE_FACTOR, DEADLINE_FLOOR_S, RoundDeadline


def test_adaptive_is_the_default_and_scales_with_the_quorum() -> None:
    policy = RoundDeadline(None)
    assert policy.from_open() is None  # armed only once a quorum voted
    # A fast quorum: the floor, counted from the round's opening.
    assert policy.from_quorum(0.1) == pytest.approx(DEADLINE_FLOOR_S - 0.1)
    # A slow one (a big model, a loaded box): 10x its time in all.
    assert policy.from_quorum(5.0) == pytest.approx(DEADLINE_FACTOR * 5.0 - 5.0)


def test_fixed_and_none() -> None:
    assert RoundDeadline(2.5).from_open() == 2.5
    assert RoundDeadline(2.5).from_quorum(1.0) is None
    assert RoundDeadline(0.0).from_open() is None  # 0: wait for every vote
    assert RoundDeadline(0.0).from_quorum(1.0) is None
    assert "adaptive" in RoundDeadline(None).describe()
    assert RoundDeadline(0.0).describe() == "no round deadline"
