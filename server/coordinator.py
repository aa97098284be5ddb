"""The round coordinator: one vote per active client, then decode, step, broadcast.

Runs on the asyncio event loop; the heavy steps (the vote, the model step, the
evaluation) go to worker threads so thousands of streams stay responsive.

Cohort rules:
- Clients attach between rounds; they enter the cohort at the next round boundary
  with a RoundStart (before round 0: once `num_clients` have attached).
- A round closes when every cohort member has voted. A member whose stream breaks
  leaves the cohort at once (its aggregator statistics are kept for a rejoin), so a
  dead client never stalls the round.
- A round also closes once its deadline has passed and a quorum has voted (by default
  the deadline adapts to the quorum's time: server/deadline.py; a member erased three
  rounds in a row is let go, so a connected member that never votes stalls no one).
  The members that did not vote are erasures in that round (weight 0: the aggregator
  neither hears nor counts them); a late vote gets a Rejected message, not an error,
  and the member carries on with the next round.
- The Decision of round t opens round t + 1 for every member that received it.
- Every K rounds (and on request, at SIGTERM) the state at the round boundary goes to a
  checkpoint (server/checkpoints.py), after the outstanding evaluations are written.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from common.codec import unpack_signs
from common.config import RunConfig, WireConfig
from common.proto import signfed_pb2 as pb
from common.wire import Reassembler, decision_messages, wire_size
from common.aggregators import Aggregator
from server.checkpoints import Checkpointing, ServerState, checkpoint_path, save_server_state
from server.deadline import MAX_MISSED_DEADLINES, RoundDeadline
from server.errors import Aborted, AlreadyExists, FailedPrecondition, ProtocolError, Unavailable
from server.master import MasterModel
from server.metrics import MetricsWriter
from server.records import RoundRecords

log = logging.getLogger(__name__)

MAX_BACKLOG = 64  # messages queued for a client that does not read: beyond, it is cut off
GOODBYE_TIMEOUT_S = 10.0  # how long to wait for final digests after the last round
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]  # Rejected.code of a late vote
SUSPEND_CHECKPOINT_ATTEMPTS = 5  # at SIGTERM a failed checkpoint write is retried (~15 s)
LATE_WINDOW = 64  # rounds for which an erased member's late vote is recognised as such


class Phase(enum.Enum):
    """Where the run is. Transitions (anything else is a bug):

    WAITING       -> OPEN           num_clients streams have attached
    OPEN          -> CLOSING        every member voted, or the deadline passed with a quorum
    CLOSING       -> OPEN           decided and broadcast; round t + 1 is open
    CLOSING       -> CHECKPOINTING  decided, and a checkpoint is due (or owed)
    CHECKPOINTING -> OPEN           written (votes for t + 1 queued meanwhile)
    WAITING | OPEN | CLOSING | CHECKPOINTING -> SUSPENDED
                                    SIGTERM: no round closes or admits again; a close in
                                    flight finishes, then a final checkpoint
    any           -> DONE           the last round closed, a failure, or after SUSPENDED
    """

    WAITING = "waiting"
    OPEN = "open"
    CLOSING = "closing"
    CHECKPOINTING = "checkpointing"
    SUSPENDED = "suspended"
    DONE = "done"


@dataclass(eq=False)
class Link:
    """One attached Train stream."""

    client_id: int
    reassembler: Reassembler
    outbox: asyncio.Queue[pb.ServerMessage | None] = field(default_factory=asyncio.Queue)
    ended: ProtocolError | None = None  # why the coordinator let this link go, if it did

    def send(self, message: pb.ServerMessage | None) -> None:
        self.outbox.put_nowait(message)

    def end(self, error: ProtocolError) -> None:
        """Let this stream go: its handler ends the call with `error`'s status."""
        self.ended = error
        self.send(None)

    @property
    def backlog(self) -> int:
        return self.outbox.qsize()


class RoundCoordinator:
    def __init__(
        self,
        *,
        run: RunConfig,
        wire: WireConfig,
        master: MasterModel,
        aggregator: Aggregator,
        metrics: MetricsWriter,
        vote_executor: Executor,
        eval_executor: Executor,
        round_deadline_s: float | None = 0.0,
        quorum: float = 0.5,
        checkpointing: Checkpointing | None = None,
    ) -> None:
        self.run = run
        self.wire = wire
        self.master = master
        self.aggregator = aggregator
        self.metrics = metrics
        self._vote_executor = vote_executor
        self._eval_executor = eval_executor
        self.phase = Phase.WAITING
        self.round = 0
        self.cohort: dict[int, Link] = {}
        self.pending: dict[int, Link] = {}
        self.votes: dict[int, np.ndarray] = {}
        self.final_digests: dict[int, bytes] = {}
        self.done = asyncio.Event()
        self.failed: str | None = None
        self._stopped: set[int] = set()  # sent Stop: their final digests are expected
        self._gone: set[int] = set()  # streams that ended after Stop
        self._all_said_goodbye = asyncio.Event()
        self._bytes_up = 0
        self._bytes_down = 0
        self._round_opened = 0.0
        self._started = 0.0
        self._seconds_before = 0.0  # training time before a resumed checkpoint
        self._deadline_policy = RoundDeadline(round_deadline_s)
        self._quorum = quorum
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_s = 0.0  # the armed deadline, seconds from the round's opening
        self._overdue = False  # the open round's deadline has passed
        self._missed: dict[int, int] = {}  # client -> rounds erased in a row
        self._erased: set[tuple[int, int]] = set()  # (client, round) pairs, recent rounds
        self._checkpointing = checkpointing
        self._checkpoint_owed = False  # the last one failed: try again at every boundary
        self._close_task: asyncio.Task[None] | None = None
        # Round records wait here until their evaluation (if any) is done: evaluation
        # overlaps the next rounds, yet metrics.jsonl stays in round order.
        self._records = RoundRecords(metrics, master.num_params)

    def restore(self, state: ServerState) -> None:
        """Continue a checkpointed run: the model, the round and the aggregator's record
        (membership and metrics are restored by their owners)."""
        self.master.commit(state.flat, state.round)
        self.aggregator.load_state_dict(state.aggregator)
        self.round = state.round
        self._seconds_before = state.seconds
        log.info("resumed from a checkpoint at round %d", state.round)

    @property
    def state(self) -> str:
        """The phase as Status reports it: "waiting", "training" or "done"."""
        if self.phase in (Phase.WAITING, Phase.DONE):
            return self.phase.value
        return "training"

    def _elapsed(self) -> float:
        """Training seconds so far, a resumed run's earlier ones included."""
        running = time.perf_counter() - self._started if self._started else 0.0
        return self._seconds_before + running

    # ---- membership of the cohort ------------------------------------------------

    def refuse_if_done(self) -> None:
        """UNAVAILABLE once the run is over: a Join then would only fail at Attach, and
        a client must not take a finished run for one it can rejoin."""
        if self.phase is Phase.DONE:
            raise Unavailable("the run has finished; nothing left to train")

    def holds_stream(self, client_id: int) -> bool:
        """Whether `client_id` has a live Train stream (admitted or waiting to enter)."""
        return client_id in self.cohort or client_id in self.pending

    def attach(self, client_id: int) -> Link:
        self.refuse_if_done()
        stale = self.cohort.get(client_id) or self.pending.get(client_id)
        if stale is not None:
            # A rejoin replaces the old stream: close it before the new one takes over.
            # It ends with ABORTED and a reason, so whoever held it knows why.
            self.detach(stale)
            stale.end(Aborted(f"client {client_id}: replaced by a newer Join of the same client"))
        reassembler = Reassembler(self.master.num_params, self.wire.chunk_bytes)
        link = Link(client_id=client_id, reassembler=reassembler)
        self.pending[client_id] = link
        log.info("client %d attached (%d waiting to enter)", client_id, len(self.pending))
        if self.phase is Phase.WAITING and len(self.pending) >= self.run.num_clients:
            self.phase = Phase.OPEN
            self._started = time.perf_counter()
        self._admit_waiting(at_boundary=False)
        return link

    def detach(self, link: Link) -> None:
        """The stream ended or broke: forget the link, keep the aggregator's statistics."""
        if self.pending.get(link.client_id) is link:
            del self.pending[link.client_id]
        if self.cohort.get(link.client_id) is link:
            del self.cohort[link.client_id]
            self.votes.pop(link.client_id, None)
            self._missed.pop(link.client_id, None)  # "in a row" starts again on a rejoin
            log.info("client %d left the cohort (%d remain)", link.client_id, len(self.cohort))
            self._admit_waiting(at_boundary=False)
            self._maybe_close()
        if self.phase is Phase.DONE:
            self._gone.add(link.client_id)
            self._check_goodbyes()

    def _admit_waiting(self, *, at_boundary: bool) -> None:
        """Waiting clients enter at a round boundary, or at once when no one is training
        (round 0 just began, or everyone else left)."""
        idle = not self.cohort and self.phase is not Phase.CLOSING
        training = self.phase in (Phase.OPEN, Phase.CLOSING, Phase.CHECKPOINTING)
        if training and self.pending and (at_boundary or idle):
            self._open_round()

    def _open_round(self) -> None:
        """Admit waiting clients into the cohort for the current round."""
        start = pb.ServerMessage(
            start=pb.RoundStart(round=self.round, model_digest=self.master.digest)
        )
        for client_id, link in self.pending.items():
            self.cohort[client_id] = link
            link.send(start)
            self._bytes_down += wire_size(start)
        log.info("round %d: admitted clients %s", self.round, sorted(self.pending))
        self.pending.clear()
        if not self._round_opened:
            self._round_opened = time.perf_counter()
            self._arm_deadline()

    # ---- the round deadline ----------------------------------------------------------

    def _arm_deadline(self) -> None:
        """Start the open round's clock (no-op without a deadline)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._overdue = False
        seconds = self._deadline_policy.from_open()
        if seconds is not None:
            self._deadline_s = seconds
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(seconds, self._deadline_passed, self.round)

    def _arm_quorum_deadline(self) -> None:
        """Adaptive deadline: armed once a quorum of the open round has voted."""
        if self._deadline is not None or len(self.votes) < self._quorum_count():
            return
        after = time.perf_counter() - self._round_opened
        seconds = self._deadline_policy.from_quorum(after)
        if seconds is not None:
            self._deadline_s = after + seconds
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(seconds, self._deadline_passed, self.round)

    def _deadline_passed(self, round_index: int) -> None:
        if round_index != self.round or self.phase is not Phase.OPEN:
            return
        self._overdue = True
        log.info(
            "round %d: deadline of %.2fs passed with %d of %d votes",
            round_index,
            self._deadline_s,
            len(self.votes),
            len(self.cohort),
        )
        self._maybe_close()

    def _quorum_count(self) -> int:
        return max(1, math.ceil(self._quorum * len(self.cohort) - 1e-9))

    # ---- votes ---------------------------------------------------------------------

    def count_up(self, nbytes: int) -> None:
        self._bytes_up += nbytes

    def vote(self, link: Link, round_index: int, packed: np.ndarray) -> None:
        if self.cohort.get(link.client_id) is not link:
            if self.phase is Phase.DONE:
                raise Unavailable("the run has finished; votes are no longer accepted")
            raise FailedPrecondition(
                f"client {link.client_id} is not in the cohort yet: wait for RoundStart"
            )
        if (link.client_id, round_index) in self._erased:
            self._reject_late(link, round_index)
            return
        if round_index != self.round:
            raise FailedPrecondition(
                f"vote for round {round_index}, but round {self.round} is open"
            )
        if link.client_id in self.votes or self.phase is Phase.CLOSING:
            raise AlreadyExists(f"client {link.client_id} already voted in round {round_index}")
        self.votes[link.client_id] = packed
        self._maybe_close()

    def _cut_off(self, link: Link) -> None:
        """A member that stopped reading its stream: its backlog would grow every round.
        It leaves the cohort and its queue is dropped; should it read again, its call
        ends with UNAVAILABLE, and the client reconnects and resyncs."""
        log.warning(
            "client %d reads nothing (%d messages queued): cutting it off",
            link.client_id,
            link.backlog,
        )
        reason = (
            f"client {link.client_id} did not read its stream ({link.backlog} messages "
            "queued): cut off; reconnect and resync"
        )
        while not link.outbox.empty():  # stale decisions: it must resync anyway
            link.outbox.get_nowait()
        self._let_go(link, reason)

    def _let_go(self, link: Link, reason: str) -> None:
        """Out of the cohort; its call ends with UNAVAILABLE and `reason`, so an honest
        client reconnects (and resyncs) when it is ready."""
        self.detach(link)
        link.end(Unavailable(reason))

    def _let_go_stallers(self, voters: list[int], erased: list[int]) -> None:
        """A member erased MAX_MISSED_DEADLINES rounds in a row holds every round up to
        its deadline: let it go (UNAVAILABLE; an honest client rejoins when ready)."""
        for client_id in voters:
            self._missed.pop(client_id, None)
        for client_id in erased:
            missed = self._missed[client_id] = self._missed.get(client_id, 0) + 1
            link = self.cohort.get(client_id)
            if missed >= MAX_MISSED_DEADLINES and link is not None:
                reason = (
                    f"client {client_id} missed {missed} round deadlines in a row: let go; "
                    "rejoin when ready"
                )
                log.warning("%s", reason)
                self._let_go(link, reason)

    def _reject_late(self, link: Link, round_index: int) -> None:
        """A vote for a round that closed without it: say so, keep the stream."""
        self._erased.discard((link.client_id, round_index))
        reason = (
            f"vote for round {round_index} arrived after the round closed (deadline "
            f"{self._deadline_s:.3g}s): counted as an erasure; carry on with the next round"
        )
        log.info("client %d: %s", link.client_id, reason)
        message = pb.ServerMessage(
            rejected=pb.Rejected(round=round_index, code=DEADLINE_EXCEEDED, reason=reason)
        )
        self._bytes_down += wire_size(message)
        link.send(message)

    def goodbye(self, link: Link, model_digest: bytes) -> None:
        if link.client_id not in self._stopped:
            raise FailedPrecondition("Goodbye before Stop: send it after the server's Stop")
        self.final_digests[link.client_id] = model_digest
        self._check_goodbyes()

    def _maybe_close(self) -> None:
        if self.phase is not Phase.OPEN or not self.cohort or not self.votes:
            return
        everyone = len(self.votes) == len(self.cohort)
        if not everyone:
            self._arm_quorum_deadline()
        if everyone or (self._overdue and len(self.votes) >= self._quorum_count()):
            self.phase = Phase.CLOSING
            self._close_task = asyncio.get_running_loop().create_task(
                self._close_round(dict(self.votes))
            )

    # ---- closing a round -----------------------------------------------------------

    def _decode_and_step(
        self, votes: np.ndarray, ids: list[int], round_index: int, report_weights: bool
    ) -> tuple[np.ndarray, np.ndarray, float, dict[int, float]]:
        """Off the loop: the vote and x - lr_t * U. Returns (decision, new model, ms, and
        when asked each client's mean |weight|: read here, before the next round's vote
        changes the statistics)."""
        started = time.perf_counter()
        decision = self.aggregator.aggregate(votes, ids, round_index)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        signs = unpack_signs(decision, self.master.num_params)
        weights = self.aggregator.client_weight_summary() if report_weights else {}
        return decision, self.master.updated(signs, round_index), elapsed_ms, weights

    async def _close_round(self, votes: dict[int, np.ndarray]) -> None:
        try:
            await self._close_round_unguarded(votes)
        except Exception as exc:  # a bug here must end the run loudly, not hang it
            log.exception("round %d failed", self.round)
            await self.finish(pb.FAILED, f"round {self.round} failed: {exc}")

    async def _close_round_unguarded(self, votes: dict[int, np.ndarray]) -> None:
        loop = asyncio.get_running_loop()
        t = self.round
        ids = sorted(votes)
        erasures = sorted(set(self.cohort) - set(ids))
        # From now on their votes for round t are late: recognised, and rejected gently.
        self._erased = {(c, r) for c, r in self._erased if r > t - LATE_WINDOW}
        self._erased.update((c, t) for c in erasures)
        if self._deadline is not None:
            self._deadline.cancel()
        stacked = np.stack([votes[i] for i in ids])  # (M, N/8) uint8
        last_round = t + 1 >= self.run.rounds
        evaluate = (t + 1) % self.run.eval_every == 0 or last_round
        decision, new_flat, aggregate_ms, weights = await loop.run_in_executor(
            self._vote_executor, self._decode_and_step, stacked, ids, t, evaluate
        )
        self.master.commit(new_flat, t + 1)
        digest_due = (t + 1) % self.run.digest_every == 0 or last_round
        messages = decision_messages(
            t,
            decision,
            self.master.num_params,
            self.wire.chunk_bytes,
            self.master.digest if digest_due else b"",
        )
        recipients = list(self.cohort.values())
        self._bytes_down += sum(wire_size(m) for m in messages) * len(recipients)
        now = time.perf_counter()
        record: dict[str, Any] = {
            "round": t,
            "seconds": round(self._elapsed(), 4),
            "round_ms": round((now - self._round_opened) * 1e3, 3),
            "clients": len(ids),
            "bytes_up": self._bytes_up,
            "bytes_down": self._bytes_down,
            "aggregate_ms": round(aggregate_ms, 3),
        }
        self._bytes_up = self._bytes_down = 0
        self.votes.clear()
        self.round = t + 1
        checkpointing = self._checkpointing
        checkpoint_due = checkpointing is not None and (
            checkpointing.due(t + 1) or self._checkpoint_owed
        )
        if self.phase is Phase.CLOSING:  # SUSPENDED stays: suspend() takes the checkpoint
            self.phase = Phase.CHECKPOINTING if checkpoint_due and not last_round else Phase.OPEN
        for link in recipients:
            if link.backlog > MAX_BACKLOG:
                self._cut_off(link)
                continue
            for message in messages:
                link.send(message)
        self._let_go_stallers(ids, erasures)
        if erasures:
            record["erasures"] = erasures
        if weights:
            record["client_weights"] = {str(i): round(w, 6) for i, w in weights.items()}
        evaluation = None
        if evaluate:
            evaluation = loop.run_in_executor(self._eval_executor, self.master.evaluate, new_flat)
        self._records.add(record, evaluation)
        if last_round:
            await self.finish(pb.FINISHED)
            return
        if self.phase is Phase.CHECKPOINTING:
            # Votes for t + 1 keep arriving meanwhile; only the close waits.
            try:
                await self.checkpoint()
            finally:
                if self.phase is Phase.CHECKPOINTING:  # not SUSPENDED or DONE meanwhile
                    self.phase = Phase.OPEN
        self._round_opened = time.perf_counter()
        self._arm_deadline()
        self._admit_waiting(at_boundary=True)
        self._maybe_close()

    # ---- checkpoints -----------------------------------------------------------------

    async def checkpoint(self) -> bool:
        """Save the state at the current round boundary (between closes): first the
        outstanding evaluations, so metrics.jsonl is complete up to the checkpoint.
        Returns whether it was written (False: logged, and owed at the next boundary)."""
        if self._checkpointing is None:
            return True
        await self._records.flush()
        checkpointing, run = self._checkpointing, self.run
        members = checkpointing.members()
        flat, round_index = self.master.flat, self.master.round
        totals, seconds = self.metrics.totals(), self._elapsed()

        def write() -> None:  # on the vote thread: the statistics are not mid-update
            state = ServerState(
                flat, round_index, self.aggregator.state_dict(), members, totals, seconds
            )
            save_server_state(checkpointing.out_dir, run, state, checkpointing.serving)

        started = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(self._vote_executor, write)
        except OSError as exc:
            # A full disk or no descriptor left must not end a run that can go on: the
            # previous checkpoint is intact (atomic replace), and the next boundary retries.
            self._checkpoint_owed = True
            log.error(
                "checkpoint at round %d failed (%s); training goes on, retrying at the next round",
                round_index,
                exc,
            )
            return False
        self._checkpoint_owed = False
        log.info(
            "checkpoint at round %d (%.0f ms)", round_index, (time.perf_counter() - started) * 1e3
        )
        return True

    async def suspend(self) -> None:
        """Close no more rounds (SIGTERM): let a close in flight finish, then checkpoint,
        unless that close ended the run."""
        if self.phase is Phase.DONE:
            return
        self.phase = Phase.SUSPENDED
        if self._deadline is not None:
            self._deadline.cancel()
        if self._close_task is not None and not self._close_task.done():
            await asyncio.wait([self._close_task])  # its own checkpoint included
        # The last chance to save this run: retry a failed write for a while.
        for attempt in range(SUSPEND_CHECKPOINT_ATTEMPTS):
            if self.phase is Phase.DONE or await self.checkpoint():
                return
            await asyncio.sleep(0.5 * 2**attempt)
        log.error(
            "no checkpoint at round %d: a --resume continues from the previous one", self.round
        )

    def drop_checkpoint(self) -> None:
        """A finished run needs no checkpoint: `--resume` on it would have nothing to do."""
        if self._checkpointing is not None:
            checkpoint_path(self._checkpointing.out_dir).unlink(missing_ok=True)

    # ---- the end -------------------------------------------------------------------

    async def finish(self, outcome: pb.Outcome, failure: str | None = None) -> None:
        """Stop every client with the run's outcome, collect final digests, set `done`.
        Idempotent. `failure` (for INTERRUPTED and FAILED) goes to the summary's error."""
        if self.phase is Phase.DONE:
            return
        self.failed = self.failed or failure
        self.phase = Phase.DONE
        if self._deadline is not None:
            self._deadline.cancel()
        await self._records.flush()
        reason = self.failed or f"finished {self.round} rounds"
        stop = pb.ServerMessage(
            stop=pb.Stop(reason=reason, rounds_done=self.round, outcome=outcome)
        )
        links = list(self.cohort.values()) + list(self.pending.values())
        # Only cohort members hold x^final; a client still waiting for admission does not.
        self._stopped = set(self.cohort)
        for link in links:
            link.send(stop)
        self._check_goodbyes()
        try:
            await asyncio.wait_for(self._all_said_goodbye.wait(), GOODBYE_TIMEOUT_S)
        except TimeoutError:
            log.warning("no final digest from clients %s", sorted(self._missing_digests()))
        self.done.set()

    def _missing_digests(self) -> set[int]:
        return self._stopped - set(self.final_digests)

    def _check_goodbyes(self) -> None:
        """Done waiting once every stopped client reported or hung up."""
        if not (self._missing_digests() - self._gone):
            self._all_said_goodbye.set()

    def replicas_identical(self) -> bool:
        """Every client in the run at its end reported the master's digest."""
        return (
            bool(self._stopped)
            and not self._missing_digests()
            and all(self.final_digests[i] == self.master.digest for i in self._stopped)
        )
