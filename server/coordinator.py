"""The round coordinator: one vote per active client, then decode, step, broadcast.

Runs on the asyncio event loop; the heavy steps (the vote, the model step, the
evaluation) go to worker threads so thousands of streams stay responsive.

Cohort rules:
- Clients attach between rounds; they enter the cohort at the next round boundary
  with a RoundStart (before round 0: once `num_clients` have attached).
- A round closes when every cohort member has voted. A member whose stream breaks
  leaves the cohort at once (its aggregator statistics are kept for a rejoin), so a
  dead client never stalls the round.
- The Decision of round t opens round t + 1 for every member that received it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.codec import unpack_signs
from common.config import RunConfig, WireConfig
from common.proto import signfed_pb2 as pb
from common.wire import Reassembler, decision_messages, wire_size
from server.aggregators import Aggregator
from server.errors import AlreadyExists, FailedPrecondition, Unavailable
from server.master import MasterModel
from server.metrics import MetricsWriter

log = logging.getLogger(__name__)

GOODBYE_TIMEOUT_S = 10.0  # how long to wait for final digests after the last round


@dataclass(eq=False)
class Link:
    """One attached Train stream."""

    client_id: int
    reassembler: Reassembler
    outbox: asyncio.Queue[pb.ServerMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, message: pb.ServerMessage | None) -> None:
        self.outbox.put_nowait(message)


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
    ) -> None:
        self.run = run
        self.wire = wire
        self.master = master
        self.aggregator = aggregator
        self.metrics = metrics
        self._vote_executor = vote_executor
        self._eval_executor = eval_executor
        self.state = "waiting"  # -> "training" -> "done"
        self.round = 0
        self.cohort: dict[int, Link] = {}
        self.pending: dict[int, Link] = {}
        self.votes: dict[int, np.ndarray] = {}
        self.final_digests: dict[int, bytes] = {}
        self.done = asyncio.Event()
        self.failed: str | None = None
        self._closing = False
        self._stopped: set[int] = set()  # sent Stop: their final digests are expected
        self._gone: set[int] = set()  # streams that ended after Stop
        self._all_said_goodbye = asyncio.Event()
        self._bytes_up = 0
        self._bytes_down = 0
        self._round_opened = 0.0
        self._started = 0.0
        # Round records wait here until their evaluation (if any) is done: evaluation
        # overlaps the next rounds, yet metrics.jsonl stays in round order.
        self._records: deque[tuple[dict[str, Any], asyncio.Future[tuple[float, float]] | None]]
        self._records = deque()

    # ---- membership of the cohort ------------------------------------------------

    def attach(self, client_id: int) -> Link:
        if self.state == "done":
            raise Unavailable("the run has finished; nothing left to train")
        stale = self.cohort.get(client_id) or self.pending.get(client_id)
        if stale is not None:
            # A rejoin replaces the old stream: close it before the new one takes over.
            self.detach(stale)
            stale.send(None)
        link = Link(client_id=client_id, reassembler=Reassembler(self.master.num_params))
        self.pending[client_id] = link
        log.info("client %d attached (%d waiting to enter)", client_id, len(self.pending))
        if self.state == "waiting" and len(self.pending) >= self.run.num_clients:
            self.state = "training"
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
            log.info("client %d left the cohort (%d remain)", link.client_id, len(self.cohort))
            self._admit_waiting(at_boundary=False)
            self._maybe_close()
        if self.state == "done":
            self._gone.add(link.client_id)
            self._check_goodbyes()

    def _admit_waiting(self, *, at_boundary: bool) -> None:
        """Waiting clients enter at a round boundary, or at once when no one is training
        (round 0 just began, or everyone else left)."""
        idle = not self.cohort and not self._closing
        if self.state == "training" and self.pending and (at_boundary or idle):
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

    # ---- votes ---------------------------------------------------------------------

    def count_up(self, nbytes: int) -> None:
        self._bytes_up += nbytes

    def vote(self, link: Link, round_index: int, packed: np.ndarray) -> None:
        if self.cohort.get(link.client_id) is not link:
            if self.state == "done":
                raise Unavailable("the run has finished; votes are no longer accepted")
            raise FailedPrecondition(
                f"client {link.client_id} is not in the cohort yet: wait for RoundStart"
            )
        if round_index != self.round:
            raise FailedPrecondition(
                f"vote for round {round_index}, but round {self.round} is open"
            )
        if link.client_id in self.votes or self._closing:
            raise AlreadyExists(f"client {link.client_id} already voted in round {round_index}")
        self.votes[link.client_id] = packed
        self._maybe_close()

    def goodbye(self, link: Link, model_digest: bytes) -> None:
        self.final_digests[link.client_id] = model_digest
        self._check_goodbyes()

    def _maybe_close(self) -> None:
        if (
            self.state == "training"
            and not self._closing
            and self.cohort
            and len(self.votes) == len(self.cohort)
        ):
            self._closing = True
            asyncio.get_running_loop().create_task(self._close_round())

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

    async def _close_round(self) -> None:
        try:
            await self._close_round_unguarded()
        except Exception as exc:  # a bug here must end the run loudly, not hang it
            log.exception("round %d failed", self.round)
            await self.finish(f"round {self.round} failed: {exc}")

    async def _close_round_unguarded(self) -> None:
        loop = asyncio.get_running_loop()
        t = self.round
        ids = sorted(self.votes)
        stacked = np.stack([self.votes[i] for i in ids])  # (M, N/8) uint8
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
            "seconds": round(now - self._started, 4),
            "round_ms": round((now - self._round_opened) * 1e3, 3),
            "clients": len(ids),
            "bytes_up": self._bytes_up,
            "bytes_down": self._bytes_down,
            "aggregate_ms": round(aggregate_ms, 3),
        }
        self._bytes_up = self._bytes_down = 0
        self.votes.clear()
        self.round = t + 1
        self._closing = False
        self._round_opened = now
        for link in recipients:
            for message in messages:
                link.send(message)
        if weights:
            record["client_weights"] = {str(i): round(w, 6) for i, w in weights.items()}
        evaluation = None
        if evaluate:
            evaluation = loop.run_in_executor(self._eval_executor, self.master.evaluate, new_flat)
            evaluation.add_done_callback(lambda _: self._write_ready_records())
        self._records.append((record, evaluation))
        self._write_ready_records()
        if last_round:
            await self.finish()
        else:
            self._admit_waiting(at_boundary=True)
            self._maybe_close()

    def _write_ready_records(self) -> None:
        """Write records in round order, each once its evaluation has finished."""
        while self._records:
            record, evaluation = self._records[0]
            if evaluation is not None:
                if not evaluation.done():
                    return
                if evaluation.exception() is not None:  # keep training; say so in the log
                    log.error(
                        "evaluation of round %d failed: %r", record["round"], evaluation.exception()
                    )
                else:
                    accuracy, loss = evaluation.result()
                    record["accuracy"] = round(accuracy, 6)
                    record["loss"] = round(loss, 6)
            self._records.popleft()
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self.metrics.round(record, num_params=self.master.num_params)
        log.info(
            "round %d  clients %d  up %d B  down %d B  vote %.1f ms%s",
            record["round"],
            record["clients"],
            record["bytes_up"],
            record["bytes_down"],
            record["aggregate_ms"],
            f"  accuracy {record['accuracy']:.4f}  loss {record['loss']:.4f}"
            if "accuracy" in record
            else "",
        )

    # ---- the end -------------------------------------------------------------------

    async def finish(self, failure: str | None = None) -> None:
        """Stop every client, collect final digests, set `done`. Idempotent."""
        if self.state == "done":
            return
        self.failed = self.failed or failure
        self.state = "done"
        pending = [e for _, e in self._records if e is not None]
        if pending:
            await asyncio.wait(pending)
        self._write_ready_records()
        reason = self.failed or f"finished {self.round} rounds"
        stop = pb.ServerMessage(stop=pb.Stop(reason=reason, rounds_done=self.round))
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
