"""Who trains: the admitted members' streams and the attached clients waiting to enter,
and everything the server says to them.

The coordinator decides when (a round boundary, a close, the end); the cohort keeps
the links, sends what server/messages.py builds and counts it in the round's ledger. A
client enters at a round boundary with a RoundStart; a stream replaced by a newer
Join, cut off for not reading, or let go for missing deadlines ends with a status
that says why (server/errors.py), so an honest client knows to rejoin.
"""

from __future__ import annotations

import logging

from server.engine import Decided, RoundEngine
from server.errors import Aborted, Unavailable
from server.ledger import RoundLedger
from server.links import Link
from server.messages import Outgoing
from server.outcome import Outcome

log = logging.getLogger(__name__)


class Cohort:
    def __init__(self, outgoing: Outgoing, ledger: RoundLedger) -> None:
        self.members: dict[int, Link] = {}  # admitted: they vote in the open round
        self.pending: dict[int, Link] = {}  # attached, entering at the next boundary
        self._outgoing = outgoing  # builds the messages (server/messages.py)
        self._ledger = ledger

    def holds_stream(self, client_id: int) -> bool:
        """Whether `client_id` has a live Train stream (admitted or waiting to enter)."""
        return client_id in self.members or client_id in self.pending

    def stream_of(self, client_id: int) -> Link | None:
        return self.members.get(client_id) or self.pending.get(client_id)

    def attach(self, client_id: int) -> Link:
        """A new stream for `client_id`, waiting to enter (the caller removed any older)."""
        link = Link(client_id=client_id)
        self.pending[client_id] = link
        log.info("client %d attached (%d waiting to enter)", client_id, len(self.pending))
        return link

    def remove(self, link: Link) -> bool:
        """Forget `link`; returns whether it was an admitted member."""
        if self.pending.get(link.client_id) is link:
            del self.pending[link.client_id]
        if self.members.get(link.client_id) is not link:
            return False
        del self.members[link.client_id]
        log.info("client %d left the cohort (%d remain)", link.client_id, len(self.members))
        return True

    def admit(self, round_index: int, model_digest: bytes) -> None:
        """Everyone waiting enters the cohort for `round_index`, with a RoundStart."""
        start, size = self._outgoing.start(round_index, model_digest)
        for client_id, link in self.pending.items():
            self.members[client_id] = link
            link.send(start)
            self._ledger.down(size)
        log.info("round %d: admitted clients %s", round_index, sorted(self.pending))
        self.pending.clear()

    def broadcast(
        self,
        decided: Decided,
        engine: RoundEngine,
        chunk_bytes: int,
        model_digest: bytes,
        max_backlog: int,
    ) -> list[Link]:
        """Send round t's decision to every member (it opens t + 1 for them); returns the
        members that stopped reading (a backlog above `max_backlog`): they get nothing,
        and are the caller's to let go."""
        messages, size = self._outgoing.decision(
            decided.round,
            decided.payload,
            engine.decision_codec,
            engine.num_params,
            chunk_bytes,
            model_digest,
        )
        silent = []
        for link in list(self.members.values()):
            if link.backlog > max_backlog:
                silent.append(link)
                continue
            for message in messages:
                link.send(message)
            self._ledger.down(size)
        return silent

    def reject_late(self, link: Link, round_index: int, deadline_s: float) -> None:
        """An update for a round that closed without it: say so, keep the stream."""
        reason = (
            f"vote for round {round_index} arrived after the round closed (deadline "
            f"{deadline_s:.3g}s): counted as an erasure; carry on with the next round"
        )
        log.info("client %d: %s", link.client_id, reason)
        message, size = self._outgoing.rejected(round_index, reason)
        self._ledger.down(size)
        link.send(message)

    def stop_all(self, reason: str, rounds_done: int, outcome: Outcome) -> None:
        """Stop every stream, members and waiting clients alike."""
        stop, _ = self._outgoing.stop(reason, rounds_done, outcome)
        for link in [*self.members.values(), *self.pending.values()]:
            link.send(stop)

    @staticmethod
    def replaced(link: Link) -> None:
        """End a stream a newer Join of the same client took over (ABORTED, and why)."""
        link.end(Aborted(f"client {link.client_id}: replaced by a newer Join of the same client"))

    @staticmethod
    def let_go(link: Link, reason: str) -> None:
        """End a stream with UNAVAILABLE and `reason`: an honest client reconnects (and
        resyncs) when it is ready."""
        link.end(Unavailable(reason))
