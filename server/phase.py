"""Where the run is: the coordinator's phases and the only moves between them.

The table is data so that a move the coordinator was never meant to make (a round
reopening after the run ended, a close after SIGTERM) fails loudly at the line that
made it, instead of surfacing rounds later as a hung or half-stopped run.
"""

from __future__ import annotations

import enum
import logging

from server.errors import Unavailable

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    """Where the run is. Transitions (anything else is a bug):

    WAITING       -> OPEN           num_clients streams have attached
    OPEN          -> CLOSING        the close rule says so (server/close_rule.py): every
                                    member voted, or the deadline passed with a quorum
    CLOSING       -> OPEN           decided and broadcast; round t + 1 is open
    CLOSING       -> CHECKPOINTING  decided, and a checkpoint is due (or owed)
    CHECKPOINTING -> OPEN           written (votes for t + 1 queued meanwhile)
    WAITING | OPEN | CLOSING | CHECKPOINTING -> SUSPENDED
                                    SIGTERM: no round closes or admits again; a close in
                                    flight finishes (and stays SUSPENDED), then a final
                                    checkpoint
    any but DONE  -> DONE           the last round closed, a failure, or after SUSPENDED
    """

    WAITING = "waiting"
    OPEN = "open"
    CLOSING = "closing"
    CHECKPOINTING = "checkpointing"
    SUSPENDED = "suspended"
    DONE = "done"

    @property
    def status(self) -> str:
        """As Status reports it: "waiting", "training" or "done"."""
        return self.value if self in (Phase.WAITING, Phase.DONE) else "training"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.WAITING: frozenset({Phase.OPEN, Phase.SUSPENDED, Phase.DONE}),
    Phase.OPEN: frozenset({Phase.CLOSING, Phase.SUSPENDED, Phase.DONE}),
    Phase.CLOSING: frozenset({Phase.OPEN, Phase.CHECKPOINTING, Phase.SUSPENDED, Phase.DONE}),
    Phase.CHECKPOINTING: frozenset({Phase.OPEN, Phase.SUSPENDED, Phase.DONE}),
    Phase.SUSPENDED: frozenset({Phase.DONE}),
    Phase.DONE: frozenset(),  # the end: nothing reopens a finished run
}


class PhaseMachine:
    """The current phase; every change goes through `move`, checked against TRANSITIONS."""

    def __init__(self, phase: Phase = Phase.WAITING) -> None:
        self._phase = phase

    @property
    def phase(self) -> Phase:
        return self._phase

    def move(self, to: Phase) -> None:
        """Enter `to`; RuntimeError when the table does not allow it (a coordinator bug)."""
        if to not in TRANSITIONS[self._phase]:
            raise RuntimeError(
                f"illegal phase transition {self._phase.name} -> {to.name}: the coordinator "
                "made a move its transition table does not allow"
            )
        log.debug("phase %s -> %s", self._phase.name, to.name)
        self._phase = to


class Phased:
    """Where a coordinator's run is, as Status, Join and Attach ask it (both
    coordinators: rounds and asynchronous)."""

    _machine: PhaseMachine

    @property
    def phase(self) -> Phase:
        """Read-only: every change goes through the machine's transition table."""
        return self._machine.phase

    @property
    def state(self) -> str:
        return self.phase.status

    def refuse_if_done(self) -> None:
        """UNAVAILABLE once the run is over: a Join then would only fail at Attach, and
        a client must not take a finished run for one it can rejoin."""
        if self.phase is Phase.DONE:
            raise Unavailable("the run has finished; nothing left to train")
