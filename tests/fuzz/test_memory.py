"""Thousands of hostile messages and streams leave the server's memory bounded.

The stage is tests/fuzz/arena.py's (round 0 open; good in the cohort, mallory's
streams replaced one after another). Memory is measured with tracemalloc, which
traces every Python allocation of the process (the server's loop thread included):
- one endless stream of empty chunks is cut short (a payload may take only the chunks
  its size needs), so it cannot hold memory or a core for long;
- after many short streams, the memory still held, and the coordinator's and the
  event loop's bookkeeping, which must come back to where they were.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import tracemalloc
import weakref
from collections.abc import Iterator

import grpc
import pytest

from common.config import PROTOCOL_VERSION
from common.proto import signfed_pb2 as pb
from server.links import Link
from tests.fuzz.arena import Arena, assert_pair_completes_rounds, assert_unharmed

Code = grpc.StatusCode


def _empty_chunks(arena: Arena, count: int) -> Iterator[bytes]:
    """mallory's Attach, then `count` empty, never-last vote chunks: each one is valid on
    its own (the run's encoding included), so the stream is never refused; then the
    half-close."""
    yield arena.mallory.attach_message().SerializeToString()
    empty = pb.ClientMessage(
        update=pb.Update(round=0, num_coords=arena.num_params, encoding=pb.SIGN1)
    )
    chunk = empty.SerializeToString()
    for _ in range(count):
        yield chunk


def _quiet_stream_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """Each refused stream logs a warning whose arguments include the exception, and
    its traceback holds the stream's Link. pytest keeps every record of a test, so here
    they would keep the links alive (a production handler formats a record and drops
    it). Errors are still recorded, and assert_unharmed checks them."""
    caplog.set_level(logging.ERROR, logger="server.stream")


def test_endless_empty_chunks_end_the_stream(
    arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    """A payload may take ceil(size / chunk_bytes) chunks: one here. The second empty
    chunk ends mallory's stream (it used to be served forever, 33k messages/s)."""
    _quiet_stream_warnings(caplog)
    started = time.perf_counter()
    assert arena.hostile.train(_empty_chunks(arena, 10_000)) == Code.INVALID_ARGUMENT
    assert time.perf_counter() - started < 30
    assert_unharmed(arena, caplog)


def _hostile_batch(arena: Arena, rounds: int) -> dict[Code, int]:
    """`rounds` x 7 hostile calls: half-sent payloads (closed or dropped), a refused
    chunk, forged attaches, big Goodbyes, a stranger's Join, a forged FetchModel."""
    hostile, n = arena.hostile, arena.num_params
    attach = arena.mallory.attach_message().SerializeToString()
    forged = pb.ClientMessage(attach=pb.Attach(client_id=0, session=b"f" * 16))
    part = pb.ClientMessage(
        update=pb.Update(round=0, num_coords=n, data=b"\1" * 300, encoding=pb.SIGN1)
    )
    wrong = pb.ClientMessage(
        update=pb.Update(round=0, num_coords=n + 1, data=b"\1" * 300, encoding=pb.SIGN1)
    )
    goodbye = pb.ClientMessage(goodbye=pb.Goodbye(model_digest=b"g" * 3000))
    half = [attach, part.SerializeToString()]
    stranger = pb.JoinRequest(protocol_version=PROTOCOL_VERSION, client_name="stranger")
    fetch = pb.FetchModelRequest(client_id=1, session=b"f" * 16)
    codes: dict[Code, int] = {}
    for i in range(rounds):
        for code in (
            hostile.train(half),
            hostile.train(half, drop_after_s=0.002 * (i % 3)),
            hostile.train([attach, wrong.SerializeToString()]),
            hostile.train([forged.SerializeToString()]),
            hostile.train([attach, goodbye.SerializeToString()]),
            hostile.call("Join", stranger.SerializeToString()),
            hostile.call("FetchModel", fetch.SerializeToString()),
        ):
            codes[code] = codes.get(code, 0) + 1
    return codes


@pytest.fixture
def live_links(arena: Arena, monkeypatch: pytest.MonkeyPatch) -> weakref.WeakSet[Link]:
    """The Links this arena's coordinator creates from now on, while they are alive."""
    coordinator = arena.server.running.coordinator
    live: weakref.WeakSet[Link] = weakref.WeakSet()
    attach = coordinator.attach

    def tracking_attach(client_id: int) -> Link:
        link = attach(client_id)
        live.add(link)
        return link

    monkeypatch.setattr(coordinator, "attach", tracking_attach)
    return live


def _settled(
    arena: Arena, live: weakref.WeakSet[Link], max_tasks: int = 1_000_000
) -> dict[str, int]:
    """The server's bookkeeping once every hostile stream has been wound up (gRPC lets
    go of a finished call's handler a moment after its status went out)."""
    server, c = arena.server, arena.server.running.coordinator

    def measure() -> dict[str, int]:
        def on_the_loop() -> dict[str, int]:
            gc.collect()
            return {
                "links": len(live),
                "tasks": len(asyncio.all_tasks()),
                "cohort": len(c.cohort),
                "pending": len(c.pending),
                "votes": len(c.votes),
                "final_digests": len(c.final_digests),
            }

        return server.call(on_the_loop)  # type: ignore[no-any-return]

    deadline = time.monotonic() + 10
    state = measure()
    while (state["links"] or state["tasks"] > max_tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
        state = measure()
    return state


def _lowest_traced_memory(seconds: float) -> int:
    """The least memory traced over a short while: gRPC and asyncio release a finished
    call's objects some callbacks later, so one reading may still count them."""
    lowest = tracemalloc.get_traced_memory()[0]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gc.collect()
        lowest = min(lowest, tracemalloc.get_traced_memory()[0])
        time.sleep(0.1)
    return lowest


@pytest.mark.slow
def test_many_hostile_streams_leave_no_state_behind(
    arena: Arena, live_links: weakref.WeakSet[Link], caplog: pytest.LogCaptureFixture
) -> None:
    _quiet_stream_warnings(caplog)
    _hostile_batch(arena, 20)  # warm-up: gRPC's and the interpreter's caches fill
    baseline = _settled(arena, live_links)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        codes = _hostile_batch(arena, 80)
        after_state = _settled(arena, live_links, max_tasks=baseline["tasks"])
        held = _lowest_traced_memory(seconds=2.0) - before
    finally:
        tracemalloc.stop()
    assert sum(codes.values()) == 7 * 80
    assert {Code.OK, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION} <= set(codes)
    assert Code.RESOURCE_EXHAUSTED in codes
    # No hostile stream's Link or reader task outlives it; nothing accumulates per client.
    assert after_state["links"] == baseline["links"] == 0
    assert after_state["tasks"] <= baseline["tasks"]
    for key in ("cohort", "pending", "votes", "final_digests"):
        assert after_state[key] == baseline[key] <= 2, key
    # 560 calls, 1.2 MB of hostile payload and digests: what stays is noise (~20 KB);
    # a leak of a few hundred bytes a call would show.
    assert held < 128_000, held
    assert_unharmed(arena, caplog)
    assert_pair_completes_rounds(arena)
