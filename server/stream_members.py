"""Who holds a Train stream in a run that admits without round boundaries (the
asynchronous and the split coordinators): the cohort, in the run, and the pending,
attached before it began. A rejoin's new stream replaces the old one, which ends
ABORTED (server/cohort.Cohort.replaced), as in a run of rounds."""

from __future__ import annotations

import abc
import logging

from server.cohort import Cohort
from server.links import Link

log = logging.getLogger(__name__)


class StreamMembers(abc.ABC):
    cohort: dict[int, Link]
    pending: dict[int, Link]

    @abc.abstractmethod
    def detach(self, link: Link) -> None:
        """The stream of `link` ended (the coordinator's own bookkeeping, then _forget)."""

    def holds_stream(self, client_id: int) -> bool:
        return client_id in self.cohort or client_id in self.pending

    def _fresh_link(self, client_id: int) -> Link:
        """A new stream's link; an older stream of the same client is detached and ended."""
        stale = self.cohort.get(client_id) or self.pending.get(client_id)
        if stale is not None:
            self.detach(stale)
            Cohort.replaced(stale)
        return Link(client_id=client_id)

    def _forget(self, link: Link) -> None:
        """Remove `link` from the members if it is still the client's stream."""
        for members in (self.cohort, self.pending):
            if members.get(link.client_id) is link:
                del members[link.client_id]
                log.info("client %d left (%d members)", link.client_id, len(self.cohort))
