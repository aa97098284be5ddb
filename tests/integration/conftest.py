"""Fixtures: an in-process server on 127.0.0.1:0 and a raw protocol client."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from common.codec import checksum, coin_rng, pack_signs
from common.config import PROTOCOL_VERSION, AggregatorConfig, RunConfig, ServerConfig, WireConfig
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.wire import grpc_options
from server.app import RunningServer, create_server


@dataclass
class ServerHandle:
    port: int
    running: RunningServer
    loop: asyncio.AbstractEventLoop

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def call(self, fn: Any) -> Any:
        """Run fn() on the server's loop (coordinator state is loop-owned)."""

        async def _run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(_run(), self.loop).result(timeout=10)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """start_server(**run_overrides) -> ServerHandle, stopped at teardown."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    handles: list[ServerHandle] = []

    def _start(
        wire: WireConfig | None = None, server: dict[str, Any] | None = None, **run: Any
    ) -> ServerHandle:
        """run: RunConfig fields; server: other ServerConfig fields (deadline, TLS...)."""
        run.setdefault("dataset", "digits")
        run.setdefault("num_clients", 2)
        run.setdefault("rounds", 5)
        aggregator = run.pop("aggregator", AggregatorConfig(warmup_rounds=1))
        config = ServerConfig(
            run=RunConfig(aggregator=aggregator, **run),
            wire=wire or WireConfig(),
            port=0,
            out_dir=str(tmp_path / "run"),
            **(server or {}),
        )
        running = asyncio.run_coroutine_threadsafe(create_server(config), loop).result(60)
        handle = ServerHandle(running.port, running, loop)
        handles.append(handle)
        return handle

    yield _start
    for h in handles:
        asyncio.run_coroutine_threadsafe(h.running.stop(0), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


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
        n = int(self.reply.settings.num_params)
        packed = pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))
        fields: dict[str, Any] = dict(
            round=round_index,
            num_coords=n,
            offset=0,
            last=True,
            crc32=checksum(packed),
            signs=packed.tobytes(),
        )
        fields.update(overrides)
        self.send(pb.ClientMessage(vote=pb.Vote(**fields)))

    def status_of_stream(self) -> grpc.StatusCode:
        """Drain the stream and return its final status code."""
        try:
            for _ in self.responses:
                pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    def close(self) -> None:
        self.outbox.put(None)
        self.channel.close()


@pytest.fixture
def raw_client() -> Iterator[Any]:
    clients: list[RawClient] = []

    def _make(address: str, name: str, **kwargs: Any) -> RawClient:
        c = RawClient(address, name, **kwargs)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.close()
