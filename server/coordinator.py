"""The round coordinator: one update per member, the round step, the broadcast.

A state machine (server/phase.py) on the asyncio event loop; the round's maths (the
engine, shared with the simulation) and the evaluation run on worker threads, so
thousands of streams stay responsive. Its parts: who trains and what they are sent
(cohort.py, messages.py), the open round's updates (ballot.py), when a round closes and
who it left out (close_rule.py), bytes and records (ledger.py, records.py),
checkpoints (checkpointer.py) and final digests (goodbyes.py). It sees NumPy rows only
and names neither gRPC nor protobuf.

Rules: clients attach between rounds and enter at the next boundary with a RoundStart
(round 0: once `num_clients` attached). Only the members drawn for a round train
(RunConfig.drawn: all, or --clients-per-round K, drawn alike on every side); all get
its Decision. A round closes when every drawn member has voted, or after its deadline
with a quorum; drawn members that did not vote are erasures (a late
update gets Rejected; three in a row and the member is let go). A member whose stream
breaks leaves at once, its statistics kept for a rejoin. The Decision of round t opens
t + 1. Every K rounds, and at SIGTERM, the boundary's state goes to a checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from common.config import RunConfig, WireConfig
from server.ballot import Ballot
from server.checkpointer import Checkpointer
from server.checkpoints import Checkpointing, ServerState
from server.close_rule import CloseRule, DeadlineOrAllVoted, Erasures
from server.cohort import Cohort
from server.deadline import RoundDeadline
from server.engine import RoundEngine
from server.errors import FailedPrecondition, Unavailable
from server.goodbyes import Goodbyes
from server.ledger import RoundLedger
from server.links import Link
from server.master import MasterModel
from server.messages import Outgoing
from server.metrics import MetricsSink
from server.outcome import Outcome
from server.phase import Phase, Phased, PhaseMachine
from server.records import RoundRecords

log = logging.getLogger(__name__)

MAX_BACKLOG = 64  # messages queued for a client that does not read: beyond, it is cut off
GOODBYE_TIMEOUT_S = 10.0  # how long to wait for final digests after the last round


class RoundCoordinator(Phased):
    def __init__(
        self,
        *,
        run: RunConfig,
        wire: WireConfig,
        master: MasterModel,
        engine: RoundEngine,
        metrics: MetricsSink,
        vote_executor: Executor,
        eval_executor: Executor,
        round_deadline_s: float | None = 0.0,
        quorum: float = 0.5,
        checkpointing: Checkpointing | None = None,
        outgoing: Outgoing | None = None,  # the wire format; a test may pass its own
        weight_of: Callable[[int], float] = lambda client_id: 1.0,  # examples behind a row
    ) -> None:
        self.run = run
        self.wire = wire
        self.master = master
        self.engine = engine
        self.metrics = metrics
        self._weight_of = weight_of
        self._vote_executor = vote_executor
        self._eval_executor = eval_executor
        self._machine = PhaseMachine(Phase.WAITING)
        self.round = 0
        self._ballot = Ballot()
        self.done = asyncio.Event()
        self.failed: str | None = None
        self._goodbyes = Goodbyes()
        self._ledger = RoundLedger()
        self._cohort = Cohort(outgoing or Outgoing(), self._ledger)
        # Views for the servicer, the summary and tests: the parts' own dicts, not copies.
        self.cohort = self._cohort.members  # admitted: they vote in the open round
        self.pending = self._cohort.pending  # attached, entering at the next boundary
        self.votes = self._ballot.rows  # the open round's updates so far
        self.final_digests = self._goodbyes.final_digests  # client -> its final replica
        self.elapsed = self._ledger.elapsed  # training seconds, a resumed run's included
        self.close_rule: CloseRule = DeadlineOrAllVoted(
            RoundDeadline(round_deadline_s), quorum, self._deadline_passed
        )
        self._erasures = Erasures()  # who the closes left out: late votes, stallers
        self._close_task: asyncio.Task[None] | None = None
        # Round records wait here until their evaluation (if any) is done: evaluation
        # overlaps the next rounds, yet metrics.jsonl stays in round order.
        self._records = RoundRecords(metrics, master.num_params)
        self._checkpointer = Checkpointer(
            checkpointing,
            run=run,
            master=master,
            engine=engine,
            metrics=metrics,
            records=self._records,
            executor=vote_executor,
            elapsed=self.elapsed,
        )

    def restore(self, state: ServerState) -> None:
        """Continue a checkpointed run: the model, the round and the aggregator's record
        (membership and metrics are restored by their owners)."""
        self.master.commit(state.flat, state.round)
        self.engine.load_state_dict(state.aggregator)
        self.round = state.round
        self._ledger.seconds_before = state.seconds
        log.info("resumed from a checkpoint at round %d", state.round)

    # ---- membership of the cohort ------------------------------------------------

    def holds_stream(self, client_id: int) -> bool:
        """Whether `client_id` has a live Train stream (admitted or waiting to enter)."""
        return self._cohort.holds_stream(client_id)

    def attach(self, client_id: int) -> Link:
        self.refuse_if_done()
        stale = self._cohort.stream_of(client_id)
        if stale is not None:  # a rejoin: the old stream ends before the new one takes over
            self.detach(stale)
            Cohort.replaced(stale)
        link = self._cohort.attach(client_id)
        if self.phase is Phase.WAITING and len(self.pending) >= self.run.num_clients:
            self._machine.move(Phase.OPEN)
            self._ledger.start()
        self._admit_waiting(at_boundary=False)
        return link

    def detach(self, link: Link) -> None:
        """The stream ended or broke: forget the link, keep the aggregator's statistics."""
        if self._cohort.remove(link):
            self._ballot.drop(link.client_id)
            self._erasures.forget(link.client_id)  # "in a row" starts again on a rejoin
            self._admit_waiting(at_boundary=False)
            self._maybe_close()
        if self.phase is Phase.DONE:
            self._goodbyes.hung_up(link.client_id)

    def _admit_waiting(self, *, at_boundary: bool) -> None:
        """Waiting clients enter at a round boundary, or at once when no one is training
        (round 0 just began, or everyone else left)."""
        idle = not self.cohort and self.phase is not Phase.CLOSING
        training = self.phase in (Phase.OPEN, Phase.CLOSING, Phase.CHECKPOINTING)
        if not (training and self.pending and (at_boundary or idle)):
            return
        self._cohort.admit(self.round, self.master.digest)
        if not self._ledger.opened:  # round 0's clock starts with its first members
            self._ledger.open()
            self.close_rule.opened(self.round)

    def _deadline_passed(self, round_index: int) -> None:
        """The close rule's deadline fired: it counts only while that round is open."""
        if round_index != self.round or self.phase is not Phase.OPEN:
            return
        seconds, votes, members = self.close_rule.deadline_s, len(self._ballot), len(self.cohort)
        log.info("round %d: deadline of %.2fs passed with %d of %d votes", round_index,
                 seconds, votes, members)  # fmt: skip
        self._maybe_close()

    # ---- votes ---------------------------------------------------------------------

    def count_up(self, nbytes: int) -> None:
        self._ledger.up(nbytes)

    def vote(self, link: Link, round_index: int, row: np.ndarray) -> None:
        """A member's decoded update for `round_index` (the codec's row form)."""
        if self.cohort.get(link.client_id) is not link:
            if self.phase is Phase.DONE:
                raise Unavailable("the run has finished; votes are no longer accepted")
            raise FailedPrecondition(
                f"client {link.client_id} is not in the cohort yet: wait for RoundStart"
            )
        if self._erasures.take_late(link.client_id, round_index):
            self._cohort.reject_late(link, round_index, self.close_rule.deadline_s)
            return
        if link.client_id not in self.run.drawn(round_index):
            raise FailedPrecondition(
                f"client {link.client_id} is not drawn to train in round {round_index} "
                f"(--clients-per-round {self.run.clients_per_round})"
            )
        closing = self.phase is Phase.CLOSING
        self._ballot.cast(link.client_id, round_index, self.round, closing, row)
        self._maybe_close()

    def _let_go(self, link: Link, reason: str) -> None:
        """Out of the cohort, its call ended with UNAVAILABLE and `reason`."""
        self.detach(link)
        Cohort.let_go(link, reason)

    def goodbye(self, link: Link, model_digest: bytes) -> None:
        self._goodbyes.said(link.client_id, model_digest)

    def _maybe_close(self) -> None:
        if self.phase is not Phase.OPEN or not self.cohort or not self._ballot:
            return
        num_votes = len(self._ballot)
        cohort_size = len(set(self.run.drawn(self.round)).intersection(self.cohort))
        self.close_rule.voted(num_votes, cohort_size)
        if self.close_rule.should_close(num_votes, cohort_size):
            self._machine.move(Phase.CLOSING)
            # The rows as they stand now: a member that leaves in the same loop tick
            # still counts in the round it voted in.
            ids, rows = self._ballot.take()
            self._close_task = asyncio.get_running_loop().create_task(self._close_round(ids, rows))

    # ---- closing a round -----------------------------------------------------------

    async def _close_round(self, ids: list[int], rows: np.ndarray) -> None:
        try:
            await self._close_round_unguarded(ids, rows)
        except Exception as exc:  # a bug here must end the run loudly, not hang it
            log.exception("round %d failed", self.round)
            await self.finish(Outcome.FAILED, f"round {self.round} failed: {exc}")

    async def _close_round_unguarded(self, ids: list[int], rows: np.ndarray) -> None:
        """Round t with `rows` (M, row width) of the members `ids`, in client id order."""
        loop, engine = asyncio.get_running_loop(), self.engine
        t = self.round
        erasures = sorted(set(self.run.drawn(t)).intersection(self.cohort) - set(ids))
        # From now on their votes for round t are late: recognised, and rejected gently.
        self._erasures.closed(t, erasures)
        self.close_rule.cancel()
        weights = np.array([self._weight_of(i) for i in ids], dtype=np.float64)
        decided = await loop.run_in_executor(
            self._vote_executor, engine.step, self.master.flat, t, ids, rows, weights
        )
        self.master.commit(decided.flat, t + 1)
        last_round = engine.last_round(t)
        self.round = t + 1
        checkpoint_due = self._checkpointer.due(t + 1)
        if self.phase is Phase.CLOSING:  # SUSPENDED stays: suspend() takes the checkpoint
            to_checkpoint = checkpoint_due and not last_round
            self._machine.move(Phase.CHECKPOINTING if to_checkpoint else Phase.OPEN)
        digest = self.master.digest if engine.digest_due(t) else b""
        silent = self._cohort.broadcast(decided, engine, self.wire.chunk_bytes, digest, MAX_BACKLOG)
        record = self._ledger.close(decided, clients=len(ids), erasures=erasures)
        for link in silent:  # it stopped reading: should it read again, its call ends
            self._let_go(link, link.cut_off())  # and the client resyncs
        # A member erased MAX_MISSED_DEADLINES rounds in a row holds every round up to
        # its deadline: let go (an honest client rejoins when ready).
        for client_id, reason in self._erasures.stallers(ids, erasures):
            if (staller := self.cohort.get(client_id)) is not None:
                log.warning("%s", reason)
                self._let_go(staller, reason)
        evaluation = None
        if engine.evaluate_due(t):
            evaluation = loop.run_in_executor(
                self._eval_executor, self.master.evaluate, decided.flat
            )
        self._records.add(record, evaluation)
        if last_round:
            await self.finish(Outcome.FINISHED)
            return
        if self.phase is Phase.CHECKPOINTING:
            # Votes for t + 1 keep arriving meanwhile; only the close waits.
            try:
                await self._checkpointer.save()  # False: logged, owed at the next
            finally:
                if self.phase is Phase.CHECKPOINTING:  # not SUSPENDED or DONE meanwhile
                    self._machine.move(Phase.OPEN)
        self._ledger.open()
        self.close_rule.opened(self.round)
        self._admit_waiting(at_boundary=True)
        self._maybe_close()

    # ---- checkpoints -----------------------------------------------------------------

    async def suspend(self) -> None:
        """Close no more rounds (SIGTERM): let a close in flight finish, then checkpoint,
        unless that close ended the run."""
        if self.phase is Phase.DONE:
            return
        if self.phase is not Phase.SUSPENDED:  # a second SIGTERM only waits again
            self._machine.move(Phase.SUSPENDED)
        self.close_rule.cancel()
        if self._close_task is not None and not self._close_task.done():
            await asyncio.wait([self._close_task])  # its own checkpoint included
        await self._checkpointer.save_retrying(give_up=lambda: self.phase is Phase.DONE)

    def drop_checkpoint(self) -> None:
        """A finished run needs no checkpoint: `--resume` on it would have nothing to do."""
        self._checkpointer.drop()

    # ---- the end -------------------------------------------------------------------

    async def finish(self, outcome: Outcome, failure: str | None = None) -> None:
        """Stop every client with the run's outcome, collect final digests, set `done`.
        Idempotent. `failure` (for INTERRUPTED and FAILED) goes to the summary's error."""
        if self.phase is Phase.DONE:
            return
        self.failed = self.failed or failure
        self._machine.move(Phase.DONE)
        self.close_rule.cancel()
        await self._records.flush()
        # Only cohort members hold x^final; a client still waiting for admission does not.
        self._goodbyes.expect(self.cohort)
        self._cohort.stop_all(self.failed or f"finished {self.round} rounds", self.round, outcome)
        await self._goodbyes.wait(GOODBYE_TIMEOUT_S)
        self.done.set()

    def replicas_identical(self) -> bool:
        """Every client in the run at its end reported the master's digest."""
        return self._goodbyes.replicas_identical(self.master.digest)
