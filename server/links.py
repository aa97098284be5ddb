"""One attached Train stream as the coordinator sees it: a queue out, and a reason in.

The coordinator never writes to a gRPC call: it queues messages on the link, and the
stream's handler (server/stream.py) yields them. A queue that only grows is how a client
that stopped reading shows (`backlog`); `end` is how the coordinator lets a stream go
with a status of its choosing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from server.errors import ProtocolError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Link:
    """One attached Train stream."""

    client_id: int
    # Outgoing messages, opaque here (server/messages.py builds them); None ends it.
    outbox: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    ended: ProtocolError | None = None  # why the coordinator let this link go, if it did

    def send(self, message: Any) -> None:
        self.outbox.put_nowait(message)

    def end(self, error: ProtocolError) -> None:
        """Let this stream go: its handler ends the call with `error`'s status."""
        self.ended = error
        self.send(None)

    def cut_off(self) -> str:
        """It stopped reading: its backlog would grow every round. Drops the queue (stale
        decisions: it must resync anyway) and returns the reason its call ends with."""
        log.warning(
            "client %d reads nothing (%d messages queued): cutting it off",
            self.client_id,
            self.backlog,
        )
        reason = (
            f"client {self.client_id} did not read its stream ({self.backlog} messages "
            "queued): cut off; reconnect and resync"
        )
        while not self.outbox.empty():
            self.outbox.get_nowait()
        return reason

    @property
    def backlog(self) -> int:
        return self.outbox.qsize()
