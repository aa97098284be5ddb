"""tests/delay_relay.py: every byte arrives, in order, the delay later each way."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from tests.delay_relay import serve

DELAY_S = 0.05


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _round_trip(size: int) -> tuple[bytes, bytes, float]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target = echo.sockets[0].getsockname()[:2]
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    listen = probe.sockets[0].getsockname()[:2]  # a free port for the relay
    probe.close()
    await probe.wait_closed()
    relay = asyncio.create_task(serve(listen, target, DELAY_S))
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection(*listen)
    sent = os.urandom(size)
    started = time.monotonic()
    writer.write(sent)
    await writer.drain()
    received = await reader.readexactly(size)
    elapsed = time.monotonic() - started
    writer.close()
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    echo.close()
    return sent, received, elapsed


def test_bytes_come_back_whole_and_in_order_one_round_trip_later() -> None:
    for size in (1, 3_000_000):
        sent, received, elapsed = asyncio.run(_round_trip(size))
        assert received == sent
        assert elapsed >= 2 * DELAY_S  # there and back, each delayed
        assert elapsed < 2 * DELAY_S + 2.0, f"{size} bytes took {elapsed:.3f} s"
