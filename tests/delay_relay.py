"""A TCP relay that delays every byte by a fixed time each way: latency for tests/netlab.py
on a kernel without `netem`.

`python -m tests.delay_relay --listen 127.0.0.1:40000 --target 10.213.7.1:50051
--delay-ms 25` accepts connections on --listen and joins each to a new connection to
--target; whatever one side sends, the other receives `--delay-ms` later, in order, so a
relay in a client's namespace adds twice that to the client's round trip. What it does
not emulate: the delay is added above TCP, so the relayed connection's own congestion
window grows as fast as on the bare link (netem's delay would slow its growth), and
there is no jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def _delay_line(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Bytes from `reader` to `writer`, each chunk `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))  # the end, delayed like the rest

    async def send() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(receive(), send())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(listen: tuple[str, int], target: tuple[str, int], delay: float) -> None:
    async def join(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()  # nobody at the target: the caller sees a closed connection
            return
        await asyncio.gather(
            _delay_line(reader, far_writer, delay), _delay_line(far_reader, writer, delay)
        )

    server = await asyncio.start_server(join, *listen)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept on")
    parser.add_argument("--target", required=True, help="HOST:PORT to relay to")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(_address(args.listen), _address(args.target), args.delay_ms / 1e3))


if __name__ == "__main__":
    main()
