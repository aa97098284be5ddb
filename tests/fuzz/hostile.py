"""A misbehaving peer: raw bytes to any RPC, hand-made Train streams, dropped calls.

Calls go through multicallables with identity (de)serializers, so a test sends exactly
the bytes it means to, parseable or not, and reads back only the final status code.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator

import grpc
import numpy as np

from common.codec import checksum, coin_rng, pack_signs
from common.config import PROTOCOL_VERSION
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc

SERVICE = "/signfed.v1.ParameterServer/"
REQUEST_TYPES = {
    "Join": pb.JoinRequest,
    "Status": pb.StatusRequest,
    "FetchModel": pb.FetchModelRequest,
    "Train": pb.ClientMessage,
}
# How a call may end when a peer misbehaves: a status that says what was wrong.
# UNKNOWN and INTERNAL mean an exception escaped the servicer: never acceptable.
EXPECTED_FAILURES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
}
CALL_TIMEOUT_S = 20.0


class Hostile:
    """One channel to the server, unlimited on the sending side."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, payload: bytes) -> grpc.StatusCode:
        """A unary (Join, Status) or server-streaming (FetchModel) call with raw bytes."""
        try:
            if method == "FetchModel":
                stream = self.channel.unary_stream(SERVICE + method)
                for _ in stream(payload, timeout=CALL_TIMEOUT_S):
                    pass
            else:
                self.channel.unary_unary(SERVICE + method)(payload, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    def train(
        self, messages: Iterable[bytes], drop_after_s: float | None = None
    ) -> grpc.StatusCode:
        """A Train stream of raw messages, read lazily and half-closed after the last;
        or all queued at once and cancelled `drop_after_s` seconds later (a peer that
        vanishes mid-payload)."""
        outbox: queue.Queue[bytes | None] = queue.Queue()
        requests: Iterator[bytes] = iter(messages)
        if drop_after_s is not None:
            for message in messages:
                outbox.put(message)
            requests = iter(outbox.get, None)
        call = self.channel.stream_stream(SERVICE + "Train")(requests, timeout=CALL_TIMEOUT_S)
        try:
            if drop_after_s is not None:
                time.sleep(drop_after_s)
                call.cancel()
            for _ in call:
                pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        finally:
            outbox.put(None)  # let gRPC's request thread finish
        return grpc.StatusCode.OK


class Peer:
    """A well-behaved client driven message by message, on a stream without a deadline
    (the fuzz phase in between may take longer than RawClient's 30 s)."""

    def __init__(self, address: str, name: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.ParameterServerStub(self.channel)
        self.name = name
        self.outbox: queue.Queue[pb.ClientMessage | None] = queue.Queue()

    def join(self) -> pb.JoinReply:
        request = pb.JoinRequest(
            protocol_version=PROTOCOL_VERSION, client_name=self.name, requested_id=-1
        )
        self.reply = self.stub.Join(request, timeout=CALL_TIMEOUT_S)
        return self.reply

    def attach_message(self) -> pb.ClientMessage:
        return pb.ClientMessage(
            attach=pb.Attach(client_id=self.reply.client_id, session=self.reply.session)
        )

    def open(self) -> None:
        self.outbox.put(self.attach_message())
        self.responses = self.stub.Train(iter(self.outbox.get, None))
        self.inbox: queue.Queue[pb.ServerMessage | grpc.RpcError | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        """Responses into the inbox, so that receive() can give up instead of hanging."""
        try:
            for message in self.responses:
                self.inbox.put(message)
            self.inbox.put(None)
        except grpc.RpcError as exc:
            self.inbox.put(exc)

    def receive(self, timeout_s: float = CALL_TIMEOUT_S) -> pb.ServerMessage:
        try:
            message = self.inbox.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"{self.name}: nothing received in {timeout_s:g} s") from None
        if isinstance(message, grpc.RpcError):
            raise message
        if message is None:
            raise AssertionError(f"{self.name}: the stream ended")
        return message

    def vote(self, round_index: int, seed: int) -> None:
        """Random packed signs of the whole model: one Update in SIGN1."""
        n = int(self.reply.settings.num_params)
        packed = pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))
        update = pb.Update(
            round=round_index,
            num_coords=n,
            last=True,
            crc32=checksum(packed),
            data=packed.tobytes(),
            encoding=pb.SIGN1,
        )
        self.outbox.put(pb.ClientMessage(update=update))

    def fetch_model(self) -> np.ndarray:
        """(N,) float32: the master model, x^round."""
        request = pb.FetchModelRequest(client_id=self.reply.client_id, session=self.reply.session)
        chunks = self.stub.FetchModel(request, timeout=CALL_TIMEOUT_S)
        return np.frombuffer(b"".join(c.data for c in chunks), dtype="<f4")

    def close(self) -> None:
        self.outbox.put(None)
        if hasattr(self, "responses"):
            self.responses.cancel()
        self.channel.close()
