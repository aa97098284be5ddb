"""The asynchronous coordinator (`signfed server --async fedasync|fedbuff`): no rounds;
every update is applied the moment it arrives (server/async_model.py).

Rules: clients attach; once `num_clients` have (as round 0 waits in a synchronous run),
each gets the model, and every later one at once. A client trains from the model it
holds and sends its result tagged with that version (Update.round) and its own update
count (Update.sequence); the server answers with the model as it stands then, so each
client goes at its own pace and a straggler holds up nobody. An update more than
--max-staleness versions old is Rejected (FAILED_PRECONDITION) and the current model
follows; one claiming a version this server never had ends its stream
(INVALID_ARGUMENT). `--rounds` counts the updates received; then every member gets the
final model and a Stop.

One task takes the updates in arrival order, one at a time: that order alone decides
the bits, and metrics.jsonl records it (who, which of its updates, from which version,
what became of it), so `signfed simulate --async ... --replay metrics.jsonl` retrains
the same updates in the same order and ends at the same model. Applying one is a
float32 mix or a buffered mean, cheap beside a gRPC message, so it runs on the event
loop, which keeps the order exact. A checkpoint every --checkpoint-every updates (and at
SIGTERM) holds x, its version, FedBuff's buffer and the members; it is written before
the update's sender hears of the model it led to, so with --checkpoint-every 1 a kill -9
loses no update whose result anyone saw.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Any

import numpy as np

from common.async_config import AsyncConfig
from common.config import RunConfig, WireConfig
from server.async_model import APPLIED, STALE, AsyncModel, UnknownVersion
from server.async_records import AsyncProgress, AsyncRecords, update_record
from server.checkpointer import Checkpointer
from server.checkpoints import Checkpointing, ServerState
from server.coordinator import GOODBYE_TIMEOUT_S, MAX_BACKLOG
from server.engine import RoundEngine
from server.errors import FailedPrecondition, InvalidArgument, Unavailable
from server.goodbyes import Goodbyes
from server.links import Link
from server.master import MasterModel
from server.messages import FAILED_PRECONDITION, Outgoing
from server.metrics import MetricsSink
from server.outcome import Outcome
from server.phase import Phase, Phased, PhaseMachine
from server.stream_members import StreamMembers

log = logging.getLogger(__name__)


class AsyncCoordinator(Phased, StreamMembers):
    def __init__(
        self,
        *,
        run: RunConfig,
        wire: WireConfig,
        master: MasterModel,
        engine: RoundEngine,  # the codecs and the summary's fields; no rounds to step
        metrics: MetricsSink,
        asynchrony: AsyncConfig,
        vote_executor: Executor,
        eval_executor: Executor,
        checkpointing: Checkpointing | None = None,
        outgoing: Outgoing | None = None,
    ) -> None:
        self.run, self.wire, self.master, self.engine = run, wire, master, engine
        self.metrics = metrics
        self.asynchrony = asynchrony
        self.model = AsyncModel(asynchrony, run.aggregator.server_lr, master.flat)
        self._eval_executor = eval_executor
        self._outgoing = outgoing or Outgoing()
        self._machine = PhaseMachine(Phase.WAITING)
        self.round = 0  # updates received: what --rounds counts
        self.cohort: dict[int, Link] = {}  # training: each holds a model from us
        self.pending: dict[int, Link] = {}  # attached before the run began
        self.done = asyncio.Event()
        self.failed: str | None = None
        self._goodbyes = Goodbyes()
        self.final_digests = self._goodbyes.final_digests
        # bytes and seconds (a resumed run's included), and the run as checkpoints hold it
        self._progress = AsyncProgress(self.model, lambda: self.round)
        self.elapsed = self._progress.elapsed
        self._records = AsyncRecords(metrics, master.num_params)
        self._checkpointer = Checkpointer(
            checkpointing,
            run=run,
            master=self._progress,  # x and the updates received
            engine=self._progress,  # the version and FedBuff's buffer
            metrics=metrics,
            records=self._records,
            executor=vote_executor,
            elapsed=self.elapsed,
        )
        self._updates: asyncio.Queue[tuple[Link, int, int, np.ndarray]] = asyncio.Queue()
        # streams with an update queued: one at a time (a rejoin's new stream is another)
        self._waiting: set[Link] = set()
        self._taker: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()  # held while one update is taken, end to end
        self._model_cache: tuple[int, list[Any], int] | None = None  # (version, msgs, size)

    def restore(self, state: ServerState) -> None:
        """Continue a checkpointed run: x, its version, FedBuff's buffer, the count."""
        self.model.load_state_dict(state.flat, state.aggregator)
        self.master.commit(self.model.flat, self.model.version)
        self.round = state.round
        self._progress.seconds_before = state.seconds
        log.info("resumed from a checkpoint at update %d (version %d)", state.round,
                 self.model.version)  # fmt: skip

    # ---- membership ---------------------------------------------------------------

    def attach(self, client_id: int) -> Link:
        self.refuse_if_done()
        link = self._fresh_link(client_id)  # a rejoin: the old stream ends first
        self.pending[client_id] = link
        log.info("client %d attached (%d waiting)", client_id, len(self.pending))
        if self.phase is Phase.WAITING and len(self.pending) >= self.run.num_clients:
            self._machine.move(Phase.OPEN)
            self._progress.start()
            self._taker = asyncio.get_running_loop().create_task(self._take_updates())
        if self.phase is Phase.OPEN:
            for waiting in list(self.pending.values()):
                self.cohort[waiting.client_id] = waiting
                self._send_model(waiting)
            self.pending.clear()
        return link

    def detach(self, link: Link) -> None:
        """The stream ended: an update it had sent in full is still taken (its record
        says so); one it was training or still sending is lost."""
        self._forget(link)
        if self.phase is Phase.DONE:
            self._goodbyes.hung_up(link.client_id)

    def count_up(self, nbytes: int) -> None:
        self._progress.bytes_up += nbytes

    def goodbye(self, link: Link, model_digest: bytes) -> None:
        self._goodbyes.said(link.client_id, model_digest)

    # ---- updates --------------------------------------------------------------------

    def receive(self, link: Link, base_version: int, sequence: int, row: np.ndarray) -> None:
        """One client's result trained from `base_version`: queued, taken in order."""
        if self.phase in (Phase.DONE, Phase.SUSPENDED):
            return  # the run is over: nothing more is applied (its Stop is on the way)
        if self.cohort.get(link.client_id) is not link:
            raise FailedPrecondition(
                f"client {link.client_id} has no model from this server yet: wait for one"
            )
        if base_version > self.model.version:
            raise InvalidArgument(
                f"update from client {link.client_id} claims version {base_version}; this "
                f"server has versions 0..{self.model.version}: resync with FetchModel"
            )
        if link in self._waiting:
            raise FailedPrecondition(
                f"client {link.client_id} sent a second update before the model its first "
                "led to: one update per model received"
            )
        self._waiting.add(link)
        self._updates.put_nowait((link, base_version, sequence, row))

    async def _take_updates(self) -> None:
        try:
            while self.phase is not Phase.DONE:  # the last update's take ends the run
                link, base, sequence, row = await self._updates.get()
                async with self._busy:
                    self._waiting.discard(link)
                    if self.phase is not Phase.OPEN:
                        continue  # suspended: not applied, and nobody is told it was
                    await self._take(link, base, sequence, row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must end the run loudly, not hang it
            log.exception("update %d failed", self.round)
            await self.finish(Outcome.FAILED, f"update {self.round} failed: {exc}")

    async def _take(self, link: Link, base: int, sequence: int, row: np.ndarray) -> None:
        n, client = self.round, link.client_id
        try:
            arrival = self.model.receive(client, base, row)
        except UnknownVersion as exc:  # vote() checked; a resume can still lower it
            link.end(InvalidArgument(str(exc)))
            return
        if arrival.status == APPLIED:
            self.master.commit(self.model.flat, self.model.version)
        self.round = n + 1
        last = self.round >= self.run.rounds
        up, down = self._progress.take_bytes()
        record = update_record(n, client, sequence, arrival, up, down, self.elapsed())
        evaluation = None
        if (n + 1) % self.run.eval_every == 0 or last:
            loop = asyncio.get_running_loop()
            evaluation = loop.run_in_executor(
                self._eval_executor, self.master.evaluate, self.model.flat
            )
        self._records.add(record, evaluation)
        if last:
            await self.finish(Outcome.FINISHED)
            return
        if self._checkpointer.due(self.round):  # before its sender hears of the result
            await self._checkpointer.save()
        if arrival.status == STALE:
            reason = (
                f"update {sequence} of client {client} was trained from version {base}, "
                f"{arrival.staleness} behind (--max-staleness {self.asynchrony.max_staleness}): "
                "not applied; train from the model that follows"
            )
            log.info("client %d: %s", client, reason)
            message, size = self._outgoing.rejected(base, reason, FAILED_PRECONDITION)
            self._progress.bytes_down += size
            link.send(message)
        if self.cohort.get(client) is link:
            self._send_model(link)

    def _send_model(self, link: Link, final: bool = False) -> None:
        """The current model to `link`: built once per version, sent to many."""
        if link.backlog > MAX_BACKLOG:
            self.detach(link)
            link.end(Unavailable(link.cut_off()))
            return
        version = self.model.version
        if final or self._model_cache is None or self._model_cache[0] != version:
            messages, size = self._outgoing.model(
                version, self.model.flat, self.master.digest, self.wire.chunk_bytes, final
            )
            if final:
                for m in messages:
                    link.send(m)
                return
            self._model_cache = (version, messages, size)
        _, messages, size = self._model_cache
        for m in messages:
            link.send(m)
        self._progress.bytes_down += size

    # ---- checkpoints and the end ---------------------------------------------------------

    async def suspend(self) -> None:
        """SIGTERM: take no more updates (one being taken finishes), then checkpoint."""
        if self.phase is Phase.DONE:
            return
        if self.phase is not Phase.SUSPENDED:
            self._machine.move(Phase.SUSPENDED)
        async with self._busy:
            await self._checkpointer.save_retrying(give_up=lambda: self.phase is Phase.DONE)

    def drop_checkpoint(self) -> None:
        self._checkpointer.drop()

    async def finish(self, outcome: Outcome, failure: str | None = None) -> None:
        """Every member gets the final model and a Stop; then the final digests."""
        if self.phase is Phase.DONE:
            return
        self.failed = self.failed or failure
        self._machine.move(Phase.DONE)
        if self._taker is not None and self._taker is not asyncio.current_task():
            self._taker.cancel()
        await self._records.flush()
        self._goodbyes.expect(self.cohort)
        stop, _ = self._outgoing.stop(
            self.failed or f"received {self.round} updates", self.round, outcome
        )
        for link in list(self.cohort.values()):
            self._send_model(link, final=True)  # replicas end identical
            link.send(stop)
        for link in list(self.pending.values()):
            link.send(stop)
        await self._goodbyes.wait(GOODBYE_TIMEOUT_S)
        self.done.set()

    def replicas_identical(self) -> bool:
        return self._goodbyes.replicas_identical(self.master.digest)
