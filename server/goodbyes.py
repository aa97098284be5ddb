"""The end of a run: which stopped clients reported their final model digest.

After the last Stop the server waits (a while) for every client that held the model at
the end to say goodbye with its digest, or to hang up: the digests are the run's proof
that every replica ended at the master's model, bit for bit (summary.json's
replicas_identical). A client that was still waiting for admission never held that
model, so it is not asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from server.errors import FailedPrecondition

log = logging.getLogger(__name__)


class Goodbyes:
    def __init__(self) -> None:
        self.final_digests: dict[int, bytes] = {}  # client -> digest of its final model
        self._stopped: set[int] = set()  # sent Stop: their final digests are expected
        self._gone: set[int] = set()  # streams that ended after Stop
        self._all_said_goodbye = asyncio.Event()

    def expect(self, client_ids: Iterable[int]) -> None:
        """Stop went to these cohort members: a digest is owed by each."""
        self._stopped = set(client_ids)
        self._check()

    def said(self, client_id: int, model_digest: bytes) -> None:
        if client_id not in self._stopped:
            raise FailedPrecondition("Goodbye before Stop: send it after the server's Stop")
        self.final_digests[client_id] = model_digest
        self._check()

    def hung_up(self, client_id: int) -> None:
        """A stream ended after the run did: no digest will come from it."""
        self._gone.add(client_id)
        self._check()

    async def wait(self, timeout_s: float) -> None:
        """Until every stopped client reported or hung up, or `timeout_s` passed."""
        try:
            await asyncio.wait_for(self._all_said_goodbye.wait(), timeout_s)
        except TimeoutError:
            log.warning("no final digest from clients %s", sorted(self._missing()))

    def replicas_identical(self, master_digest: bytes) -> bool:
        """Every client in the run at its end reported the master's digest."""
        return (
            bool(self._stopped)
            and not self._missing()
            and all(self.final_digests[i] == master_digest for i in self._stopped)
        )

    def _missing(self) -> set[int]:
        return self._stopped - set(self.final_digests)

    def _check(self) -> None:
        """Done waiting once every stopped client reported or hung up."""
        if not (self._missing() - self._gone):
            self._all_said_goodbye.set()
