"""Progress lines for a run: one at every evaluation and every ~10% of the rounds, and
before round 0, who the server is still waiting for.

Rounds are numbered as in metrics.jsonl and the server's log: from 0. A line says
`round 29 (30/300)`: round 29 has closed, 30 of the 300 rounds are done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT_REPORT_S = 5.0  # between "waiting for clients" lines: alive, not chatty


class Progress:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.every = max(1, rounds // 10)

    def add(self, r: dict[str, Any]) -> None:
        """Print the record of one round when it is due."""
        t = r["round"]
        if "accuracy" not in r and (t + 1) % self.every:
            return
        accuracy = f"  accuracy {r['accuracy']:.4f}" if "accuracy" in r else ""
        if "version" in r:  # an asynchronous run: one record per update
            # simulated on the virtual clock, or served in wall seconds
            when = f"virtual {r['virtual_seconds']:9.1f}s" if "virtual_seconds" in r else (
                f"{r['seconds']:8.1f}s")  # fmt: skip
            line = (
                f"update {t + 1:>5}/{self.rounds}  {when}  "
                f"version {r['version']:>5}  client {r['client']:>3}  staleness "
                f"{r['staleness']:>3}  {r['status']:<8}{accuracy}"
            )
            print(line.rstrip(), flush=True)
            return
        where = f"round {t:>4} ({t + 1}/{self.rounds})"
        widest = len(f"round {self.rounds - 1:>4} ({self.rounds}/{self.rounds})")
        print(
            f"{where:<{widest}}  {r['seconds']:8.1f}s  clients {r['clients']:>3}  "
            f"up {r['bytes_up']:>9,} B  down {r['bytes_down']:>9,} B{accuracy}",
            flush=True,
        )


class FollowMetrics:
    """Follows a metrics.jsonl another process appends to, feeding Progress."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self.path = path
        self.progress = progress
        self.records = 0  # round records read so far
        self._offset = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith("\n"):
                    break  # a half-written line: read it next time
                self._offset += len(line.encode())
                self.records += 1
                self.progress.add(json.loads(line))


class ClientWait:
    """Until round 0 starts, every WAIT_REPORT_S: 'waiting for clients: 7/15 joined',
    from the server's Status (a server still loading, or busy, is asked again later)."""

    def __init__(
        self,
        server: str,
        num_clients: int,
        *,
        ask: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.num_clients = num_clients
        self.done = False  # round 0 has started: nothing more to say
        self._ask = ask or (lambda: _status(server))
        self._clock = clock
        self._last = clock()

    def poll(self) -> None:
        now = self._clock()
        if self.done or now - self._last < WAIT_REPORT_S:
            return
        self._last = now
        reply = self._ask()
        if reply is None:
            return
        if reply.state != "waiting":
            self.done = True
            return
        print(f"waiting for clients: {reply.active_clients}/{self.num_clients} joined", flush=True)


def _status(server: str) -> Any:
    """The server's StatusReply, or None when it does not answer in time."""
    import grpc

    from signfed.status import status

    try:
        return status(server, timeout_s=2.0)
    except grpc.RpcError:
        return None
