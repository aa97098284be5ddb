"""The split-learning coordinator (`signfed server --algorithm split`): turns, minibatch
exchanges and rounds over the clients' Train streams (server/split_rounds.py holds the
model and the maths; this file is who may speak when).

Rules: clients attach; once `num_clients` have, round 0 opens. In round t the drawn
members train in id order, one at a time (vanilla, ushaped) or all at once (splitfed;
splitfed2, whose messages are taken in split_rounds.Rotation's order, held till then):
a turn opens with the client's part of the model (ServerMessage.model, digest on the
last chunk), then the client sends one tensor at a time and each gets the server part's
answer; the turn ends with the client's part back as an Update for round t. When every
turn of the round has ended, x^{t+1} is committed, recorded and (when due) evaluated;
after the last round every member gets the final part (ModelChunk.final) and a Stop.

One task takes the streams' events (a tensor, a returned part, a stream that ended) in
arrival order, and the server part's work runs on one executor thread in that order, so
no two exchanges touch a part at once. A malformed tensor ends its sender's stream with
INVALID_ARGUMENT, one out of turn (e.g. a gradient for a batch the server never
answered) with FAILED_PRECONDITION; its turn is dropped (server/split_rounds.drop) and
the round goes on with the others. A client that rejoins trains from the next round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from typing import Any

import numpy as np

from common.config import ConfigError, RunConfig, WireConfig
from common.params import digest
from common.split_model import USHAPED
from common.split_tensor import ACTIVATIONS, Tensor, TensorAssembler, server_messages
from common.wire import messages_size
from server.coordinator import GOODBYE_TIMEOUT_S
from server.errors import FailedPrecondition, InvalidArgument, ProtocolError
from server.goodbyes import Goodbyes
from server.links import Link
from server.master import MasterModel
from server.messages import Outgoing
from server.metrics import MetricsSink
from server.outcome import Outcome
from server.phase import Phase, Phased, PhaseMachine
from server.split_records import RoundTally, SplitRecords
from server.split_rounds import Inbox, SplitRounds
from server.split_server import BadTensor, OutOfTurn
from server.stream_members import StreamMembers

log = logging.getLogger(__name__)


class SplitCoordinator(Phased, StreamMembers):
    def __init__(
        self,
        *,
        run: RunConfig,
        wire: WireConfig,
        master: MasterModel,
        rounds: SplitRounds,
        batch_size_of: Any,  # client id -> its batch size (server/membership.py)
        metrics: MetricsSink,
        work_executor: Executor,  # the server part's thread
        eval_executor: Executor,
        outgoing: Outgoing | None = None,
    ) -> None:
        self.run, self.wire, self.master, self.rounds = run, wire, master, rounds
        self.cut = rounds.cut
        self.batch_size_of = batch_size_of
        self.metrics = metrics
        self._work, self._eval = work_executor, eval_executor
        self._outgoing = outgoing or Outgoing()
        self._machine = PhaseMachine(Phase.WAITING)
        self.round = 0
        self.cohort: dict[int, Link] = {}
        self.pending: dict[int, Link] = {}
        self.done = asyncio.Event()
        self.failed: str | None = None
        self._goodbyes = Goodbyes()
        self.final_digests = self._goodbyes.final_digests
        self._records = SplitRecords(metrics, master.num_params)
        self._events: asyncio.Queue[tuple[str, Link, Any]] = asyncio.Queue()
        self._taker: asyncio.Task[None] | None = None
        self._turns: dict[int, Link] = {}  # clients whose turn is open
        self._queue: list[int] = []  # sequential: who trains next this round
        self._inbox: Inbox | None = None  # SFLV2: messages held for the rotation
        self._tally = RoundTally()  # this round's bytes, steps, losses
        self._started = time.monotonic()
        self.rounds.load(master.flat, 0)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    # ---- membership (called by the streams) ------------------------------------------

    def attach(self, client_id: int) -> Link:
        self.refuse_if_done()
        link = self._fresh_link(client_id)  # a rejoin: the old stream ends first
        if self.phase is Phase.WAITING:
            self.pending[client_id] = link
            log.info("client %d attached (%d waiting)", client_id, len(self.pending))
            if len(self.pending) >= self.run.num_clients:
                self._machine.move(Phase.OPEN)
                self.cohort, self.pending = dict(self.pending), {}
                self._started = time.monotonic()
                self._taker = asyncio.get_running_loop().create_task(self._take_events())
                self._events.put_nowait(("open", link, None))
        else:
            self.cohort[client_id] = link  # trains from the next round it is drawn in
            if not self._turns and not self._queue:  # a round that had nobody left
                self._events.put_nowait(("open", link, None))
        return link

    def detach(self, link: Link) -> None:
        self._forget(link)
        if self.phase is Phase.DONE:
            self._goodbyes.hung_up(link.client_id)
        elif self._turns.get(link.client_id) is link:
            self._events.put_nowait(("left", link, None))

    def count_up(self, nbytes: int) -> None:
        self._tally.bytes[0] += nbytes

    def goodbye(self, link: Link, model_digest: bytes) -> None:
        self._goodbyes.said(link.client_id, model_digest)

    def tensor_assembler(self, client_id: int) -> TensorAssembler:
        return self.rounds.tensor_assembler(self.batch_size_of(client_id), self.wire.chunk_bytes)

    def tensor(self, link: Link, tensor: Tensor) -> None:
        self._events.put_nowait(("tensor", link, tensor))

    def part_returned(self, link: Link, round_index: int, part: np.ndarray) -> None:
        self._events.put_nowait(("part", link, (round_index, part)))

    # ---- the events, one at a time -----------------------------------------------------

    async def _take_events(self) -> None:
        try:
            while self.phase is Phase.OPEN:
                kind, link, payload = await self._events.get()
                if self.phase is not Phase.OPEN:
                    break
                await getattr(self, f"_on_{kind}")(link, payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must end the run loudly, not hang it
            log.exception("round %d failed", self.round)
            await self.finish(Outcome.FAILED, f"round {self.round} failed: {exc}")

    async def _in_work(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._work, fn, *args)

    async def _on_open(self, *_: Any) -> None:
        if self._turns or self._queue:
            return  # a round is under way: the newcomer waits for the next
        self._tally.started = time.monotonic()
        ids = [c for c in self.run.drawn(self.round) if c in self.cohort]
        if not ids:
            log.warning("round %d: no drawn client is attached; waiting", self.round)
            return
        self._queue = ids
        await self._next_turns()

    async def _next_turns(self) -> None:
        """Open the next turn (sequential) or every turn (splitfed); close the round
        once none is left."""
        while self._queue and (self.rounds.parallel or not self._turns):
            c = self._queue.pop(0)
            link = self.cohort.get(c)
            if link is None:
                continue  # left before its turn
            part = await self._in_work(self.rounds.start_turn, c, self.batch_size_of(c))
            self._tally.server_bytes = max(self._tally.server_bytes, self.rounds.server_memory())
            self._turns[c] = link
            messages, size = self._outgoing.model(
                self.round, part, digest(part), self.wire.chunk_bytes, False
            )
            self._send(link, messages, size)
        if self.rounds.rotates and self._turns and self._inbox is None:  # SFLV2's order
            self._inbox = Inbox(sorted(self._turns))
        if not self._turns and not self._queue:
            self._inbox = None
            await self._close_round()

    async def _on_tensor(self, link: Link, tensor: Tensor) -> None:
        c = link.client_id
        if self._turns.get(c) is not link:
            return self._end(
                link, FailedPrecondition(f"client {c} has no open turn: {tensor.what}")
            )
        if self._inbox is not None:  # SFLV2: taken when the rotation comes to it
            self._inbox.hold(c, ("tensor", link, tensor))
            return await self._rotate()
        await self._answer(link, tensor)

    async def _rotate(self) -> None:
        """SFLV2: take held messages while the rotation's current client has one."""
        while self._inbox is not None and (held := self._inbox.next()) is not None:
            c, (kind, link, payload) = held
            if kind == "tensor":
                if await self._answer(link, payload):
                    self._inbox.rotation.advance()
            else:
                self._inbox.remove(c)
                await self._end_turn(link, payload)

    async def _answer(self, link: Link, tensor: Tensor) -> bool:
        """The server part's answer to `tensor`, sent; False if the tensor ended its stream."""
        c = link.client_id
        try:
            answer = await self._in_work(self.rounds.take, c, tensor)
        except BadTensor as exc:
            self._end(link, InvalidArgument(str(exc)))
            return False
        except OutOfTurn as exc:
            self._end(link, FailedPrecondition(str(exc)))
            return False
        if tensor.kind == ACTIVATIONS:
            self._tally.steps += 1
            self._tally.loss += answer.loss
        messages = server_messages(answer, self.rounds.codecs[1], self.wire.chunk_bytes)
        self._send(link, messages, messages_size(messages))
        return True

    async def _on_part(self, link: Link, payload: tuple[int, np.ndarray]) -> None:
        round_index, part = payload
        c = link.client_id
        if self._turns.get(c) is not link or round_index != self.round:
            why = f"client {c} returned its part for round {round_index} outside its turn"
            return self._end(link, FailedPrecondition(why))
        if self._inbox is not None:
            self._inbox.hold(c, ("part", link, part))
            return await self._rotate()
        await self._end_turn(link, part)

    async def _end_turn(self, link: Link, part: np.ndarray) -> None:
        await self._in_work(self.rounds.end_turn, link.client_id, part)
        del self._turns[link.client_id]
        self._tally.clients += 1
        await self._next_turns()

    async def _on_left(self, link: Link, _: Any) -> None:
        c = link.client_id
        if self._turns.get(c) is link:
            log.warning("round %d: client %d left mid-turn: its turn is dropped", self.round, c)
            await self._in_work(self.rounds.drop, c)
            del self._turns[c]
            if self._inbox is not None:
                self._inbox.remove(c)
                await self._rotate()
            await self._next_turns()

    def _end(self, link: Link, error: ProtocolError) -> None:
        log.warning("client %d: %s: %s", link.client_id, error.code.name, str(error))
        link.end(error)  # its stream ends with this status; detach() drops the turn

    def _send(self, link: Link, messages: list[Any], size: int) -> None:
        for m in messages:
            link.send(m)
        self._tally.bytes[1] += size

    async def _close_round(self) -> None:
        flat = await self._in_work(self.rounds.close)
        t = self.round
        self.master.commit(flat, t + 1)
        record = self._tally.record(t, self.elapsed(), self.cut.variant == USHAPED)
        self._tally = RoundTally()
        self.round = t + 1
        evaluation = None
        if self.round % self.run.eval_every == 0 or self.round >= self.run.rounds:
            loop = asyncio.get_running_loop()
            evaluation = loop.run_in_executor(self._eval, self.master.evaluate, flat)
        self._records.add(record, evaluation)
        if self.round >= self.run.rounds:
            await self.finish(Outcome.FINISHED)
        else:
            await self._on_open()

    # ---- the end -------------------------------------------------------------------------

    async def suspend(self) -> None:
        """SIGTERM: no more turns; split runs keep no checkpoint (rerun to repeat)."""
        if self.phase not in (Phase.DONE, Phase.SUSPENDED):
            self._machine.move(Phase.SUSPENDED)

    def restore(self, state: object) -> None:
        raise ConfigError("--algorithm split keeps no checkpoints to --resume")

    def drop_checkpoint(self) -> None:
        """Nothing to drop: split runs write no checkpoint."""

    async def finish(self, outcome: Outcome, failure: str | None = None) -> None:
        """Every member gets the final client part and a Stop; then the final digests."""
        if self.phase is Phase.DONE:
            return
        if outcome is Outcome.INTERRUPTED:  # there is no checkpoint to --resume from
            failure = f"interrupted at round {self.round}: split runs keep no checkpoint; rerun"
        self.failed = self.failed or failure
        self._machine.move(Phase.DONE)
        if self._taker is not None and self._taker is not asyncio.current_task():
            self._taker.cancel()
        await self._records.flush()
        self._goodbyes.expect(self.cohort)
        part, chunk = self.cut.client_flat(self.master.flat), self.wire.chunk_bytes
        final, _ = self._outgoing.model(self.round, part, digest(part), chunk, True)
        stop, _ = self._outgoing.stop(
            self.failed or f"ran {self.round} rounds", self.round, outcome
        )
        for link in list(self.cohort.values()):  # every member ends with the final part
            self._send(link, [*final, stop], 0)
        for link in list(self.pending.values()):
            link.send(stop)
        await self._goodbyes.wait(GOODBYE_TIMEOUT_S)
        self.done.set()

    def replicas_identical(self) -> bool:
        """Every member ended holding the final client part."""
        return self._goodbyes.replicas_identical(digest(self.cut.client_flat(self.master.flat)))
