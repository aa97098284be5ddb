"""Fixtures: an in-process server on 127.0.0.1:0 and a raw protocol client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from common.config import AggregatorConfig, RunConfig, WireConfig
from server.app import RunningServer, create_server
from server.config import ServerConfig
from tests.integration.raw import RawClient


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
