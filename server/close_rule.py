"""When the open round closes: the rule, and the clock it needs.

Today's rule: a round closes once every cohort member voted, or once its deadline
passed and a quorum voted. The deadline's length is a pure policy (server/deadline.py:
fixed from the round's opening, adaptive from the quorum's time, or none); this module
arms it on the event loop and tells the coordinator when it fires, since only the
coordinator knows whether that round is still open. Another rule (say, a fixed number
of votes) is another class with CloseRule's members.

A round that closes without some members leaves erasures behind; `Erasures` keeps the
little the coordinator must remember about them (late votes, members that always miss).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from server.deadline import MAX_MISSED_DEADLINES, RoundDeadline

LATE_WINDOW = 64  # rounds for which an erased member's late vote is recognised as such


class CloseRule(Protocol):
    """What the coordinator asks of a close rule; it owns any timer it arms."""

    @property
    def deadline_s(self) -> float: ...  # for messages: the deadline a late vote missed

    def opened(self, round_index: int) -> None: ...

    def voted(self, num_votes: int, cohort_size: int) -> None: ...

    def should_close(self, num_votes: int, cohort_size: int) -> bool: ...

    def cancel(self) -> None: ...


class DeadlineOrAllVoted:
    """Everyone voted, or the deadline passed and a quorum voted.

    on_deadline(round_index) runs on the loop when the deadline armed for that round
    passes; the rule counts as overdue from then until the next `opened`.
    """

    def __init__(
        self,
        policy: RoundDeadline,
        quorum: float,  # the share of the cohort that must vote before a deadline closes
        on_deadline: Callable[[int], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.policy = policy
        self._quorum = quorum
        self._on_deadline = on_deadline
        self._clock = clock
        self._round = 0
        self._opened_at = 0.0
        # At most one timer per round: once armed (even if cancelled since), the adaptive
        # deadline is not armed again before the next `opened`.
        self._timer: asyncio.TimerHandle | None = None
        self._deadline_s = 0.0  # the armed deadline, seconds from the round's opening
        self._overdue = False  # the open round's deadline has passed

    @property
    def deadline_s(self) -> float:
        """The last deadline armed, in seconds from its round's opening (0: none yet)."""
        return self._deadline_s

    def opened(self, round_index: int) -> None:
        """Round `round_index` opened: start its clock (a fixed deadline is armed now)."""
        self.cancel()
        self._timer = None
        self._overdue = False
        self._round = round_index
        self._opened_at = self._clock()
        seconds = self.policy.from_open()
        if seconds is not None:
            self._deadline_s = seconds
            self._arm(seconds)

    def voted(self, num_votes: int, cohort_size: int) -> None:
        """The open round's tally changed: an adaptive deadline is armed once a quorum
        has voted (and the round still waits for someone)."""
        if num_votes >= cohort_size:
            return
        if self._timer is not None or num_votes < self.quorum_count(cohort_size):
            return
        after = self._clock() - self._opened_at
        seconds = self.policy.from_quorum(after)
        if seconds is not None:
            self._deadline_s = after + seconds
            self._arm(seconds)

    def should_close(self, num_votes: int, cohort_size: int) -> bool:
        everyone = num_votes == cohort_size
        return everyone or (self._overdue and num_votes >= self.quorum_count(cohort_size))

    def cancel(self) -> None:
        """The round closed or the run stops: its deadline no longer matters."""
        if self._timer is not None:
            self._timer.cancel()

    def quorum_count(self, cohort_size: int) -> int:
        """Votes that make a quorum: at least one, and a share of the cohort."""
        return max(1, math.ceil(self._quorum * cohort_size - 1e-9))

    def _arm(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._passed, self._round)

    def _passed(self, round_index: int) -> None:
        self._overdue = True
        self._on_deadline(round_index)


class Erasures:
    """Who the closes left out. A member that did not vote in a closed round is an erasure
    there: its late vote for that round (within LATE_WINDOW rounds) is recognised and
    rejected gently, not taken for a protocol error; and a member erased
    MAX_MISSED_DEADLINES rounds in a row is named for letting go, since it holds every
    round up to its deadline."""

    def __init__(self) -> None:
        self._missed: dict[int, int] = {}  # client -> rounds erased in a row
        self._erased: set[tuple[int, int]] = set()  # (client, round) pairs, recent rounds

    def closed(self, round_index: int, erased: Iterable[int]) -> None:
        """Round `round_index` closed without `erased`: their votes for it are late now."""
        self._erased = {(c, r) for c, r in self._erased if r > round_index - LATE_WINDOW}
        self._erased.update((c, round_index) for c in erased)

    def take_late(self, client_id: int, round_index: int) -> bool:
        """Whether this is a late vote; recognised once (a second one is a duplicate)."""
        if (client_id, round_index) not in self._erased:
            return False
        self._erased.discard((client_id, round_index))
        return True

    def stallers(self, voters: list[int], erased: list[int]) -> Iterator[tuple[int, str]]:
        """(client, why it is let go) for each erased member at the limit. Counted as the
        caller iterates, so one let go meanwhile is forgotten in between, as if one by one.
        A voter's count starts again."""
        for client_id in voters:
            self._missed.pop(client_id, None)
        for client_id in erased:
            missed = self._missed[client_id] = self._missed.get(client_id, 0) + 1
            if missed >= MAX_MISSED_DEADLINES:
                yield (
                    client_id,
                    (
                        f"client {client_id} missed {missed} round deadlines in a row: let go; "
                        "rejoin when ready"
                    ),
                )

    def forget(self, client_id: int) -> None:
        """It left the cohort: "in a row" starts again on a rejoin."""
        self._missed.pop(client_id, None)
