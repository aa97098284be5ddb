"""A client's life: join, fetch the model, vote every round, apply decisions, stop.

The Train stream is driven by what the server sends: RoundStart admits us, each
Decision both updates the replica and opens the next round, Stop ends the run.
When the server goes away, stops the run without finishing it, or a newer Join takes
our session, the client rejoins with exponential backoff and jitter for up to
--connect-timeout (client/outcome.py says which failures qualify); its replica is
checked against the server's digest and refetched when it differs.
"""

from __future__ import annotations

import logging
import queue
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from client.async_worker import AsyncWorker
from client.attacker import Attacker, colluders_for, is_attacker, trainer_for
from client.channel import connect
from client.config import ClientConfig
from client.identity import client_name
from client.outcome import (
    Interrupted,
    ServerGone,
    StreamEnded,
    check_stop,
    gave_up,
    rejoin_reason,
)
from client.replica import ReplicaMismatch, fetch_model
from client.split_worker import SplitWorker, split_worker_for
from client.trainer import LocalTrainer
from common.algorithms import Algorithm, get_algorithm
from common.codecs import Codec, codec_for_wire
from common.config import PROTOCOL_VERSION, RunConfig
from common.data import Dataset, load_dataset
from common.params import digest, model_layout
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.run_settings import run_config_from
from common.split_config import SPLIT
from common.wire import Reassembler, update_messages

log = logging.getLogger(__name__)

WAIT_LOG_EVERY_S = 10.0  # while no server answers, say so this often: silence looks hung


@dataclass
class ClientResult:
    rounds_done: int
    model_digest: bytes
    stop_reason: str
    resyncs: int


class ClientSession:
    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.name = client_name(config.name, config.identity_file)
        self.client_id = config.client_id
        self.session = b""
        self.settings: pb.RunSettings | None = None
        self.run_config: RunConfig | None = None
        self.algorithm: Algorithm | None = None
        self.codecs: tuple[Codec, Codec] | None = None  # (update, decision)
        self.trainer: LocalTrainer | None = None
        self.attacker: Attacker | None = None  # when this client is one of the attackers
        self.worker: AsyncWorker | None = None  # an asynchronous run's (client/async_worker.py)
        self.split: SplitWorker | None = None  # a split run's (client/split_worker.py)
        self.dataset: Dataset | None = None
        self.flat: np.ndarray | None = None
        self.resyncs = 0
        self.rounds_done = 0
        self.late_votes = 0  # votes the server rejected as late (erasures)
        self.in_touch = False  # the Train stream delivered something since the last Join
        self.gone_because = ""  # why we lost the server that last trained us: the final error

    # ---- the outer loop: reconnect until the run ends -------------------------------

    def run(self) -> ClientResult:
        """Train to the end of the run. Raises RunFailed, ServerGone (no server within
        --connect-timeout), or the grpc.RpcError of a refusal a rejoin cannot cure."""
        attempt = 0
        deadline = time.monotonic() + self.config.connect_timeout_s
        while True:
            try:
                return self._run_once(deadline)
            except (grpc.RpcError, StreamEnded, Interrupted) as exc:
                joined, self.session = bool(self.session), b""
                rejoin = rejoin_reason(exc, joined=joined)
                if rejoin is None:
                    raise
                if joined:  # we had the server until now: its absence starts now
                    deadline = time.monotonic() + self.config.connect_timeout_s
                    attempt = 0
                # The reason to report is why the server that trained us went away, not
                # a later echo (a server stopping after Stop still answers Join for a moment).
                if self.in_touch or not self.gone_because:
                    self.gone_because = rejoin.why
                self.in_touch = False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerGone(gave_up(self.config, self.gone_because)) from None
                delay = min(left, self.config.backoff_max_s, 0.2 * 2**attempt)
                delay *= random.uniform(0.5, 1.0)  # jitter: restarted servers get no stampede
                attempt += 1
                log.log(rejoin.level, "%s; rejoining in %.2fs", rejoin.why, delay)
                time.sleep(delay)

    def _run_once(self, deadline: float) -> ClientResult:
        # TLS when --tls-ca is given; the token rides on every call (client/channel.py).
        with connect(self.config, self.name) as channel:
            stub = pb_grpc.ParameterServerStub(channel)
            self._join(stub, deadline)
            if self.split is None:  # a split client's part comes on the Train stream
                self._fetch(stub)
            return self._train(stub)

    # ---- the three calls --------------------------------------------------------------

    def _join(self, stub: pb_grpc.ParameterServerStub, deadline: float) -> None:
        reply = self._wait_and_join(stub, deadline)
        self.client_id, self.session = reply.client_id, reply.session
        run = run_config_from(reply.settings)
        self.run_config = run
        if self.settings != reply.settings:  # first join, or the server began a new run
            self.settings = reply.settings
            self.dataset = load_dataset(run.dataset, self.config.data_dir, seed=run.seed)
            self.trainer = None
        if run.aggregator.algorithm == SPLIT:
            assert self.dataset is not None
            self.split = split_worker_for(reply, self.dataset, self.config.delay_s)
            log.info("joined as client %d (split, batch %d)", self.client_id, reply.batch_size)
            return
        self.algorithm = get_algorithm(run.aggregator.algorithm)
        if self.trainer is None or (self.trainer.client_id, self.trainer.batch_size) != (
            reply.client_id,
            reply.batch_size,
        ):
            assert self.dataset is not None  # loaded above with the first settings
            attack = self.config.attack
            self.trainer = trainer_for(attack, run, reply.client_id, reply.batch_size, self.dataset)
            self.attacker = None
            if is_attacker(attack, run, reply.client_id):
                colluders = colluders_for(attack, run, self.dataset, self.algorithm)
                self.attacker = Attacker(attack, run, self.algorithm, self.trainer, colluders)
                log.warning("client %d attacks: %s", reply.client_id, attack.attack)
        self.codecs = self.algorithm.encodings(run, model_layout(self.trainer.model))
        mode, worker = reply.settings.async_mode, self.worker
        if mode and (worker is None or (worker.trainer, worker.mode) != (self.trainer, mode)):
            chunk_bytes = int(reply.settings.chunk_bytes)
            self.worker = AsyncWorker(
                mode, self.trainer, self.codecs[0], chunk_bytes, self.config.delay_s
            )
        log.info(
            "joined as client %d (%s, batch %d) at round %d",
            self.client_id,
            self.name or "unnamed",
            reply.batch_size,
            reply.round,
        )

    def _wait_and_join(self, stub: pb_grpc.ParameterServerStub, deadline: float) -> pb.JoinReply:
        """Join, waiting for the server until `deadline`, and saying so every
        WAIT_LOG_EVERY_S: each Join waits (wait_for_ready) one such slice at most."""
        started = time.monotonic()
        log.info(
            "waiting for the parameter server at %s (up to %.0fs)",
            self.config.server,
            max(0.0, deadline - started),
        )
        while True:
            left = deadline - time.monotonic()
            try:
                return self._call_join(stub, max(0.01, min(left, WAIT_LOG_EVERY_S)))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                    raise
            if time.monotonic() >= deadline:
                raise ServerGone(gave_up(self.config, self.gone_because))
            log.info(
                "still waiting for the parameter server at %s (%.0fs)",
                self.config.server,
                time.monotonic() - started,
            )

    def _call_join(self, stub: pb_grpc.ParameterServerStub, timeout: float) -> pb.JoinReply:
        return stub.Join(
            pb.JoinRequest(
                protocol_version=PROTOCOL_VERSION,
                client_name=self.name,
                batch_size=self.config.batch_size,
                requested_id=self.client_id,
            ),
            timeout=timeout,
            wait_for_ready=True,
        )

    def _fetch(self, stub: pb_grpc.ParameterServerStub) -> int:
        """Replace the replica with the master model; returns its round."""
        self.flat, round_index = fetch_model(stub, self.client_id, self.session)
        log.info("fetched model x^%d (%d parameters)", round_index, self.flat.size)
        return round_index

    def _train(self, stub: pb_grpc.ParameterServerStub) -> ClientResult:
        assert self.settings is not None
        outbox: queue.Queue[pb.ClientMessage | None] = queue.Queue()
        outbox.put(
            pb.ClientMessage(attach=pb.Attach(client_id=self.client_id, session=self.session))
        )
        responses = stub.Train(_drain(outbox))
        decisions = Reassembler(  # a split run's decoder of its updates' encoding is unused
            int(self.settings.num_params), int(self.settings.chunk_bytes),
            self.codecs[1] if self.codecs else codec_for_wire(self.settings.decision_encoding),
        )  # fmt: skip
        try:
            for message in responses:
                self.in_touch = True
                kind = message.WhichOneof("kind")
                if kind == "start":
                    self._ensure_replica(stub, message.start.model_digest, message.start.round)
                    self._vote(outbox, message.start.round)
                elif kind == "decision":
                    d = message.decision
                    row = decisions.add(
                        d.round, d.num_coords, d.offset, d.data, d.last, d.crc32, d.encoding
                    )
                    if row is None:
                        continue
                    self._apply(row, d.round)
                    self.rounds_done = d.round + 1
                    if d.model_digest:
                        self._ensure_replica(stub, d.model_digest, d.round + 1)
                    if d.round + 1 < self.settings.rounds:
                        self._vote(outbox, d.round + 1)
                elif kind == "model" and self.split is not None:  # our turn, or the last part
                    self.flat = self.split.receive(message.model, outbox.put, self.flat)
                elif kind == "tensor" and self.split is not None:  # the server's half
                    self.split.answer(message.tensor, outbox.put)
                elif kind == "model":  # asynchronous: train from it, send the result
                    assert self.worker is not None
                    self.flat = self.worker.receive(message.model, outbox.put, self.flat)
                elif kind == "rejected":  # a late vote, or an update too stale to apply
                    self.late_votes += 1
                    log.warning("server: %s", message.rejected.reason)
                elif kind == "stop":
                    if self.flat is None:  # a split client that never held a part
                        self.flat = np.zeros(0, dtype=np.float32)
                    outbox.put(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=digest(self.flat))))
                    outbox.put(None)
                    log.info(
                        "stopped by server (%s): %s",
                        pb.Outcome.Name(message.stop.outcome),
                        message.stop.reason,
                    )
                    for _ in responses:  # let the server read our digest and close the stream
                        pass
                    check_stop(message.stop)  # only a FINISHED run ends here
                    return ClientResult(
                        rounds_done=message.stop.rounds_done,
                        model_digest=digest(self.flat),
                        stop_reason=message.stop.reason,
                        resyncs=self.resyncs,
                    )
        finally:
            outbox.put(None)
            responses.cancel()
        raise StreamEnded("the server closed the stream without Stop")

    # ---- helpers -------------------------------------------------------------------------

    def _vote(self, outbox: queue.Queue[pb.ClientMessage | None], round_index: int) -> None:
        """Our update for `round_index`: what the run's algorithm computes, encoded."""
        assert self.trainer is not None and self.flat is not None and self.settings is not None
        assert self.algorithm is not None and self.codecs is not None
        run = self.run_config
        assert run is not None
        if self.client_id not in run.drawn(round_index):
            return  # not drawn this round (--clients-per-round): the Decision comes anyway
        if self.attacker is not None:
            row = self.attacker.update(self.flat, round_index)
        else:
            row = self.algorithm.client_update(self.trainer, self.flat, round_index, run)
        if self.config.delay_s:  # --delay: a slow device (the stream keeps its messages)
            time.sleep(self.config.delay_s)
        codec = self.codecs[0]
        for message in update_messages(
            round_index,
            codec.encode(row),
            codec,
            int(self.settings.num_params),
            int(self.settings.chunk_bytes),
        ):
            outbox.put(message)

    def _apply(self, row: np.ndarray, round_index: int) -> None:
        """x^{t+1} from the decision, by the same rule the server applies."""
        assert self.flat is not None and self.run_config is not None
        assert self.algorithm is not None and self.codecs is not None
        lr = self.run_config.learning_rate_at(round_index)
        self.flat = self.algorithm.apply_payload(self.flat, row, self.codecs[1], lr)

    def _ensure_replica(
        self, stub: pb_grpc.ParameterServerStub, expected: bytes, round_index: int
    ) -> None:
        """Resync through FetchModel when our replica's digest differs from the server's."""
        assert self.flat is not None
        if digest(self.flat) == expected:
            return
        self.resyncs += 1
        log.warning("replica differs from the server's at round %d: resyncing", round_index)
        fetched_round = self._fetch(stub)
        if fetched_round != round_index or digest(self.flat) != expected:
            raise ReplicaMismatch(
                f"resync fetched x^{fetched_round}, expected x^{round_index} with the "
                "announced digest"
            )


def _drain(outbox: queue.Queue[pb.ClientMessage | None]) -> Iterator[pb.ClientMessage]:
    """The request stream: whatever is queued, until None."""
    while (message := outbox.get()) is not None:
        yield message
