"""A raw protocol client: speaks the protocol message by message, so tests can
misbehave precisely; and admit(), which brings a set of clients into round 0."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from common.codec import checksum, coin_rng, pack_signs
from common.codecs import Codec
from common.config import PROTOCOL_VERSION, WireConfig
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.wire import grpc_options, update_messages


@dataclass
class RawClient:
    """Speaks the protocol message by message, so tests can misbehave precisely."""

    address: str
    name: str
    wire: WireConfig = field(default_factory=WireConfig)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.address, options=grpc_options(self.wire))
        self.stub = pb_grpc.ParameterServerStub(self.channel)
        self.outbox: queue.Queue[pb.ClientMessage | None] = queue.Queue()
        self.responses: Any = None

    def join(self, version: str = PROTOCOL_VERSION, requested_id: int = -1) -> pb.JoinReply:
        self.reply = self.stub.Join(
            pb.JoinRequest(
                protocol_version=version,
                client_name=self.name,
                batch_size=4,
                requested_id=requested_id,
            ),
            timeout=10,
        )
        return self.reply

    def open(self, first: pb.ClientMessage | None = None) -> None:
        if first is None:
            first = pb.ClientMessage(
                attach=pb.Attach(client_id=self.reply.client_id, session=self.reply.session)
            )
        self.outbox.put(first)
        self.responses = self.stub.Train(iter(self.outbox.get, None), timeout=30)

    def send(self, message: pb.ClientMessage) -> None:
        self.outbox.put(message)

    def receive(self) -> pb.ServerMessage:
        return next(self.responses)

    def vote(self, round_index: int, seed: int = 0, **overrides: Any) -> None:
        """One Update message: random packed signs of the whole model, in SIGN1.
        `overrides` replace any Update field (data=, encoding=, crc32=, last=...)."""
        n = int(self.reply.settings.num_params)
        packed = pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))
        fields: dict[str, Any] = dict(
            round=round_index,
            num_coords=n,
            offset=0,
            last=True,
            crc32=checksum(packed),
            data=packed.tobytes(),
            encoding=pb.SIGN1,
        )
        fields.update(overrides)
        self.send(pb.ClientMessage(update=pb.Update(**fields)))

    def update(self, round_index: int, payload: bytes, codec: Codec) -> None:
        """A payload in any codec, chunked at the size the server announced."""
        n, chunk = int(self.reply.settings.num_params), int(self.reply.settings.chunk_bytes)
        for message in update_messages(round_index, payload, codec, n, chunk):
            self.send(message)

    def end_of_stream(self) -> tuple[grpc.StatusCode, str]:
        """Drain the stream; its final status code and details."""
        try:
            for _ in self.responses:
                pass
        except grpc.RpcError as exc:
            return exc.code(), exc.details()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK, ""

    def status_of_stream(self) -> grpc.StatusCode:
        """Drain the stream and return its final status code."""
        return self.end_of_stream()[0]

    def close(self) -> None:
        self.outbox.put(None)
        self.channel.close()


def admit(*clients: Any) -> None:
    """Join and attach every client, then check each is told round 0 has started.

    All attach before any reads: round 0 opens only once the cohort is full."""
    for c in clients:
        c.join()
        c.open()
    for c in clients:
        assert c.receive().start.round == 0
