"""Who may take part: client ids, names and sessions (tokens: server/auth.py).

A client's name is its identity across restarts: a rejoin under the same name gets
the same id (so the aggregator's per-client statistics follow it) and a fresh
session, which invalidates the old stream. Three rules keep a name and a place from
being taken over:
- a Join under the name of a member whose stream is live is refused (ABORTED), unless
  the caller proved that name with a name-bound token: then the newest Join wins (a
  restarted client whose old connection is half-open gets back in);
- a session is good only with the credential its Join proved (PERMISSION_DENIED);
- a place taken by a Join that never attached a Train stream within ATTACH_TTL_S goes,
  when the cohort is full, to the next new client. Members that did attach keep their
  id for good: their statistics follow their name.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.config import DEFAULT_BATCH_SIZE, PROTOCOL_VERSION
from common.names import name_problem
from common.release import release
from server.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)

log = logging.getLogger(__name__)

# A Join that attaches no Train stream within this long holds no place for sure. Long
# enough for an honest client to load its data and fetch the model between the two.
ATTACH_TTL_S = 30.0
ANY_ID = -1  # requested_id -1 (or unset): the lowest free id


@dataclass
class Member:
    client_id: int
    name: str
    batch_size: int
    session: bytes
    joined_at: float  # clock() at the latest Join
    attached: bool = False  # ever attached a Train stream (or came from a checkpoint)
    proven: str = ""  # the name its latest Join proved with a name-bound token, or ''


class Membership:
    def __init__(
        self,
        capacity: int,
        batch_plan: Callable[[int], int] = lambda _id: DEFAULT_BATCH_SIZE,
        *,
        is_connected: Callable[[int], bool] = lambda _id: False,
        attach_ttl_s: float = ATTACH_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity  # most distinct clients this run admits
        self._batch_plan = batch_plan  # client id -> batch size, for clients that ask 0
        self._is_connected = is_connected  # client id -> holds a live Train stream now
        self._attach_ttl_s = attach_ttl_s
        self._clock = clock
        self._by_id: dict[int, Member] = {}

    def join(
        self,
        *,
        version: str,
        name: str,
        batch_size: int,
        requested_id: int | None = None,
        proven: str = "",
    ) -> Member:
        """A place for `name` (None or -1: any free id). `proven`: the name the caller's
        name-bound token proved ('' for none); only it may replace a live stream."""
        if version != PROTOCOL_VERSION:
            raise FailedPrecondition(
                f"protocol version {version!r} is not supported: this server speaks "
                f"{PROTOCOL_VERSION!r} (signfed {release()}); upgrade the client to the "
                "server's signfed release"
            )
        if batch_size < 0:
            raise FailedPrecondition(
                f"batch size must be >= 0 (0: the server's plan), got {batch_size}"
            )
        if problem := name_problem(name):
            raise InvalidArgument(f"{problem}; choose another --name")
        if requested_id is None:
            requested_id = ANY_ID
        if requested_id < ANY_ID or requested_id >= self.capacity:
            raise InvalidArgument(
                f"client id {requested_id} is outside this run's ids 0..{self.capacity - 1} "
                f"({ANY_ID} or unset: any free id)"
            )
        existing = self._find(name) if name else None
        if existing is not None:
            return self._rejoin(existing, requested_id, batch_size, proven)
        if len(self._by_id) >= self.capacity or requested_id in self._by_id:
            self._evict_unattached()
        if len(self._by_id) >= self.capacity:
            raise ResourceExhausted(
                f"cohort full: this run admits {self.capacity} clients "
                "(raise --clients on the server)"
            )
        client_id = requested_id if requested_id != ANY_ID else self._lowest_free_id()
        if client_id in self._by_id:
            raise AlreadyExists(
                f"client id {client_id} belongs to {self._by_id[client_id].name!r}; "
                "choose another --client-id or a matching --name"
            )
        member = Member(
            client_id=client_id,
            name=name or f"client-{client_id}",
            batch_size=batch_size or self._batch_plan(client_id),
            session=secrets.token_bytes(16),
            joined_at=self._clock(),
            proven=proven,
        )
        self._by_id[client_id] = member
        return member

    def _rejoin(self, member: Member, requested_id: int, batch_size: int, proven: str) -> Member:
        """The same name again: a fresh session for the same id, if the name is free."""
        if self._is_connected(member.client_id) and proven != member.name:
            raise Aborted(
                f"name {member.name!r} is in use by a connected client; join under it once "
                "that client's stream has ended (a dead connection is dropped after "
                "--keepalive + --keepalive-timeout seconds), or authenticate as "
                f"{member.name!r} with a name-bound token to take over its stream"
            )
        if requested_id != ANY_ID and requested_id != member.client_id:
            raise AlreadyExists(
                f"name {member.name!r} already holds client id {member.client_id}, "
                f"not {requested_id}"
            )
        member.session = secrets.token_bytes(16)
        member.batch_size = batch_size or self._batch_plan(member.client_id)
        member.joined_at = self._clock()
        member.proven = proven
        return member

    def _evict_unattached(self) -> None:
        """Free the places of Joins that never attached within the TTL (lazily: a
        squatter costs nothing until its place is wanted)."""
        now = self._clock()
        for member in list(self._by_id.values()):
            if not member.attached and now - member.joined_at >= self._attach_ttl_s:
                log.info(
                    "client %d (%s) never attached within %.0fs of its Join: place freed",
                    member.client_id,
                    member.name,
                    self._attach_ttl_s,
                )
                del self._by_id[member.client_id]

    def verify(self, client_id: int, session: bytes, proven: str = "") -> Member:
        """The member behind a (client id, session) pair, used with the credential its
        Join proved (`proven`, as for join()). FAILED_PRECONDITION for an unknown or
        replaced session; PERMISSION_DENIED for a session used under another name."""
        member = self._by_id.get(client_id)
        if member is None or not hmac.compare_digest(member.session, session):
            raise FailedPrecondition(
                f"client {client_id} has not joined (or its session was replaced by a "
                f"newer Join, or it attached no stream within {self._attach_ttl_s:.0f}s "
                "and gave up its place): call Join first"
            )
        if proven != member.proven:
            joined = f"as {member.proven!r}" if member.proven else "without a name-bound token"
            caller = f"as {proven!r}" if proven else "without a name-bound token"
            raise PermissionDenied(
                f"client {client_id}'s session came from a Join {joined}, but this call "
                f"authenticated {caller}: a session works only with the token that joined"
            )
        return member

    def mark_attached(self, member: Member) -> None:
        """`member` attached a Train stream: from now on its place is its own."""
        member.attached = True

    def batch_size_of(self, client_id: int) -> int:
        """The batch size `client_id` trains with (its Join's, else the plan's)."""
        member = self._by_id.get(client_id)
        return member.batch_size if member is not None else self._batch_plan(client_id)

    def snapshot(self) -> list[dict[str, Any]]:
        """Who holds which id, for a checkpoint. Sessions are left out on purpose: after a
        restart every client joins again (by name, so it gets its old id back)."""
        return [
            {"client_id": m.client_id, "name": m.name, "batch_size": m.batch_size}
            for m in sorted(self._by_id.values(), key=lambda m: m.client_id)
        ]

    def restore(self, members: list[dict[str, Any]]) -> None:
        """Reinstate a snapshot's members, each with a fresh session nobody holds yet.
        They count as attached: their ids may carry statistics in the checkpoint."""
        if self._by_id:
            raise ValueError("restore() needs an empty membership")
        if len(members) > self.capacity:
            raise ValueError(f"{len(members)} members for a cohort of {self.capacity}")
        for entry in members:
            member = Member(
                client_id=int(entry["client_id"]),
                name=str(entry["name"]),
                batch_size=int(entry["batch_size"]),
                session=secrets.token_bytes(16),
                joined_at=self._clock(),
                attached=True,
            )
            if member.client_id in self._by_id or self._find(member.name) is not None:
                raise ValueError(f"duplicate member {entry!r} in the snapshot")
            self._by_id[member.client_id] = member

    def _find(self, name: str) -> Member | None:
        return next((m for m in self._by_id.values() if m.name == name), None)

    def _lowest_free_id(self) -> int:
        return next(i for i in range(len(self._by_id) + 1) if i not in self._by_id)
