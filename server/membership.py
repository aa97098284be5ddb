"""Who may take part: client ids, names and sessions (tokens: server/auth.py).

A client's name is its identity across restarts: a rejoin under the same name gets
the same id (so the aggregator's per-client statistics follow it) and a fresh
session, which invalidates the old stream.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.config import DEFAULT_BATCH_SIZE, PROTOCOL_VERSION
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, ResourceExhausted


@dataclass
class Member:
    client_id: int
    name: str
    batch_size: int
    session: bytes


class Membership:
    def __init__(
        self,
        capacity: int,
        batch_plan: Callable[[int], int] = lambda _id: DEFAULT_BATCH_SIZE,
    ) -> None:
        self.capacity = capacity  # most distinct clients this run admits
        self._batch_plan = batch_plan  # client id -> batch size, for clients that ask 0
        self._by_id: dict[int, Member] = {}

    def join(self, *, version: str, name: str, batch_size: int, requested_id: int) -> Member:
        if version != PROTOCOL_VERSION:
            raise FailedPrecondition(
                f"protocol version {version!r} is not supported: this server speaks "
                f"{PROTOCOL_VERSION!r}; run a client of the same signfed release"
            )
        if batch_size < 0:
            raise FailedPrecondition(
                f"batch size must be >= 0 (0: the server's plan), got {batch_size}"
            )
        if requested_id >= self.capacity:
            raise InvalidArgument(
                f"client id {requested_id} is outside this run's ids 0..{self.capacity - 1}"
            )
        existing = self._find(name) if name else None
        if existing is not None:
            if requested_id >= 0 and requested_id != existing.client_id:
                raise AlreadyExists(
                    f"name {name!r} already holds client id {existing.client_id}, "
                    f"not {requested_id}"
                )
            existing.session = secrets.token_bytes(16)
            existing.batch_size = batch_size or self._batch_plan(existing.client_id)
            return existing
        if len(self._by_id) >= self.capacity:
            raise ResourceExhausted(
                f"cohort full: this run admits {self.capacity} clients "
                "(raise --clients on the server)"
            )
        client_id = requested_id if requested_id >= 0 else self._lowest_free_id()
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
        )
        self._by_id[client_id] = member
        return member

    def verify(self, client_id: int, session: bytes) -> Member:
        """The member behind a (client id, session) pair; FAILED_PRECONDITION otherwise."""
        member = self._by_id.get(client_id)
        if member is None or not hmac.compare_digest(member.session, session):
            raise FailedPrecondition(
                f"client {client_id} has not joined (or its session was replaced by a "
                "newer Join): call Join first"
            )
        return member

    def snapshot(self) -> list[dict[str, Any]]:
        """Who holds which id, for a checkpoint. Sessions are left out on purpose: after a
        restart every client joins again (by name, so it gets its old id back)."""
        return [
            {"client_id": m.client_id, "name": m.name, "batch_size": m.batch_size}
            for m in sorted(self._by_id.values(), key=lambda m: m.client_id)
        ]

    def restore(self, members: list[dict[str, Any]]) -> None:
        """Reinstate a snapshot's members, each with a fresh session nobody holds yet."""
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
            )
            if member.client_id in self._by_id or self._find(member.name) is not None:
                raise ValueError(f"duplicate member {entry!r} in the snapshot")
            self._by_id[member.client_id] = member

    def _find(self, name: str) -> Member | None:
        return next((m for m in self._by_id.values() if m.name == name), None)

    def _lowest_free_id(self) -> int:
        return next(i for i in range(len(self._by_id) + 1) if i not in self._by_id)
