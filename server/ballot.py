"""The open round's updates: one per member, each checked before it counts.

A member's update is for the open round, once; the ballot keeps the rows (already
decoded by the stream's codec) by client id and hands them to the close in client id
order, the order every backend aggregates in.
"""

from __future__ import annotations

import numpy as np

from server.errors import AlreadyExists, FailedPrecondition


class Ballot:
    def __init__(self) -> None:
        self.rows: dict[int, np.ndarray] = {}  # client id -> its update for the open round

    def __len__(self) -> int:
        return len(self.rows)

    def cast(
        self, client_id: int, round_index: int, open_round: int, closing: bool, row: np.ndarray
    ) -> None:
        """Count `row`; FAILED_PRECONDITION for another round, ALREADY_EXISTS for a second
        update (or one while the round is closing: the first one already counted)."""
        if round_index != open_round:
            raise FailedPrecondition(
                f"vote for round {round_index}, but round {open_round} is open"
            )
        if client_id in self.rows or closing:
            raise AlreadyExists(f"client {client_id} already voted in round {round_index}")
        self.rows[client_id] = row

    def drop(self, client_id: int) -> None:
        """A member left: its update, if any, no longer counts."""
        self.rows.pop(client_id, None)

    def take(self) -> tuple[list[int], np.ndarray]:
        """(client ids ascending, (M, row width) rows in that order); the ballot empties."""
        ids = sorted(self.rows)
        rows = np.stack([self.rows[i] for i in ids])
        self.rows.clear()  # the same dict: the coordinator shows it as `votes`
        return ids, rows
