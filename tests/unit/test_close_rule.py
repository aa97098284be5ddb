"""When a round closes (server/close_rule.py), on a real event loop with short deadlines
and a hand-moved clock for the adaptive one."""

from __future__ import annotations

import asyncio

import pytest

from server import deadline
from server.close_rule import LATE_WINDOW, DeadlineOrAllVoted, Erasures
from server.deadline import MAX_MISSED_DEADLINES, RoundDeadline

SHORT_S = 0.05  # a deadline the tests wait out
WAIT_S = 0.2  # comfortably past it


class Clock:
    """The rule's notion of now, moved by hand (the timers themselves run on the loop)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _rule(
    fixed_s: float | None, fired: list[int], clock: Clock | None = None
) -> DeadlineOrAllVoted:
    return DeadlineOrAllVoted(RoundDeadline(fixed_s), 0.5, fired.append, clock or Clock())


def test_everyone_voted_closes_at_once() -> None:
    async def scenario() -> None:
        fired: list[int] = []
        rule = _rule(0.0, fired)  # no deadline at all
        rule.opened(0)
        rule.voted(3, 3)
        assert rule.should_close(3, 3)
        assert not rule.should_close(2, 3)

    asyncio.run(scenario())


def test_a_quorum_without_a_deadline_waits_for_everyone() -> None:
    async def scenario() -> None:
        fired: list[int] = []
        rule = _rule(0.0, fired)
        rule.opened(0)
        rule.voted(2, 3)
        await asyncio.sleep(WAIT_S)
        assert fired == []
        assert not rule.should_close(2, 3)
        assert rule.deadline_s == 0.0

    asyncio.run(scenario())


def test_a_quorum_closes_once_a_fixed_deadline_passed() -> None:
    async def scenario() -> None:
        fired: list[int] = []
        rule = _rule(SHORT_S, fired)
        rule.opened(7)
        rule.voted(2, 3)
        assert not rule.should_close(2, 3)  # before the deadline: wait for the third
        await asyncio.sleep(WAIT_S)
        assert fired == [7]  # the coordinator hears which round's deadline it was
        assert rule.deadline_s == SHORT_S
        assert rule.should_close(2, 3)  # ceil(0.5 * 3) = 2 votes: a quorum
        assert not rule.should_close(1, 3)  # overdue, but short of a quorum
        rule.opened(8)  # the next round starts on time again
        assert not rule.should_close(2, 3)

    asyncio.run(scenario())


def test_the_adaptive_deadline_is_armed_only_once_a_quorum_voted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadline, "DEADLINE_FLOOR_S", SHORT_S)

    async def scenario() -> None:
        fired: list[int] = []
        clock = Clock()
        rule = _rule(None, fired, clock)
        rule.opened(0)
        clock.now += 0.001
        rule.voted(1, 4)  # 1 of 4: no quorum (2), no clock running
        await asyncio.sleep(WAIT_S)
        assert fired == [] and rule.deadline_s == 0.0
        assert not rule.should_close(1, 4)

        clock.now += 0.002  # the quorum took 3 ms: the floor applies
        rule.voted(2, 4)
        assert rule.deadline_s == pytest.approx(SHORT_S)
        rule.voted(3, 4)  # armed once per round: a later vote does not move it
        assert rule.deadline_s == pytest.approx(SHORT_S)
        assert not rule.should_close(3, 4)
        await asyncio.sleep(WAIT_S)
        assert fired == [0]
        assert rule.should_close(3, 4)

    asyncio.run(scenario())


def test_a_cancelled_deadline_never_fires() -> None:
    async def scenario() -> None:
        fired: list[int] = []
        rule = _rule(SHORT_S, fired)
        rule.opened(0)
        rule.cancel()  # the round closed first
        await asyncio.sleep(WAIT_S)
        assert fired == [] and not rule.should_close(2, 3)

    asyncio.run(scenario())


def test_the_quorum_is_at_least_one_vote() -> None:
    rule = DeadlineOrAllVoted(RoundDeadline(0.0), 0.5, lambda _: None)
    assert [rule.quorum_count(n) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert DeadlineOrAllVoted(RoundDeadline(0.0), 0.0, lambda _: None).quorum_count(9) == 1


def test_a_late_vote_is_recognised_once_and_within_the_window() -> None:
    erasures = Erasures()
    erasures.closed(3, [5])
    assert not erasures.take_late(6, 3)  # voted, or never a member: not late
    assert erasures.take_late(5, 3)
    assert not erasures.take_late(5, 3)  # a second copy is a duplicate, not a late vote
    erasures.closed(4, [5])
    erasures.closed(4 + LATE_WINDOW, [])
    assert not erasures.take_late(5, 4)  # too old to tell apart from nonsense


def test_a_member_erased_rounds_in_a_row_is_named_for_letting_go() -> None:
    erasures = Erasures()
    for _ in range(MAX_MISSED_DEADLINES - 1):
        assert list(erasures.stallers([1], [2, 3])) == []
        erasures.forget(3)  # 3 left and rejoined: its count starts again
    let_go = list(erasures.stallers([1, 3], [2]))
    assert [client for client, _ in let_go] == [2]
    assert f"missed {MAX_MISSED_DEADLINES} round deadlines in a row" in let_go[0][1]
    assert list(erasures.stallers([2], [])) == []  # it voted: the count starts again
