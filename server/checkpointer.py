"""Writing the server's checkpoint at round boundaries, and owing it when a write fails.

A failed write (a full disk, no descriptor left) must not end a run that can go on:
the previous checkpoint is intact (atomic replace, server/checkpoints.py), so the write
is owed and retried at every boundary until one succeeds. At SIGTERM there is no next
boundary, so the write is retried a few times with a backoff instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

import numpy as np

from common.config import RunConfig
from server.checkpoints import Checkpointing, ServerState, checkpoint_path, save_server_state
from server.metrics import MetricsSink
from server.records import RoundRecords

log = logging.getLogger(__name__)

SUSPEND_CHECKPOINT_ATTEMPTS = 5  # at SIGTERM a failed checkpoint write is retried (~15 s)


class Model(Protocol):
    """The model a checkpoint holds and the round it is at (MasterModel; an
    asynchronous run's AsyncProgress, whose round is the updates received)."""

    @property
    def flat(self) -> np.ndarray: ...

    @property
    def round(self) -> int: ...


class Statistics(Protocol):
    """What else a resumed run needs (RoundEngine: the aggregator's statistics)."""

    def state_dict(self) -> dict[str, np.ndarray]: ...


class Checkpointer:
    """Saves what a resumed run needs (ServerState); a no-op without `checkpointing`."""

    def __init__(
        self,
        checkpointing: Checkpointing | None,
        *,
        run: RunConfig,
        master: Model,
        engine: Statistics,
        metrics: MetricsSink,
        records: RoundRecords,
        executor: Executor,  # the vote thread: the aggregator's statistics are not mid-update
        elapsed: Callable[[], float],  # training seconds so far, earlier runs included
    ) -> None:
        self._checkpointing = checkpointing
        self._run = run
        self._master = master
        self._engine = engine
        self._metrics = metrics
        self._records = records
        self._executor = executor
        self._elapsed = elapsed
        self._owed = False  # the last write failed: try again at every boundary

    def due(self, next_round: int) -> bool:
        """Whether the boundary before `next_round` takes a checkpoint (on schedule, or owed)."""
        checkpointing = self._checkpointing
        return checkpointing is not None and (checkpointing.due(next_round) or self._owed)

    async def save(self) -> bool:
        """Save the state at the current round boundary (between closes): first the
        outstanding evaluations, so metrics.jsonl is complete up to the checkpoint.
        Returns whether it was written (False: logged, and owed at the next boundary)."""
        if self._checkpointing is None:
            return True
        await self._records.flush()
        checkpointing, run = self._checkpointing, self._run
        members = checkpointing.members()
        flat, round_index = self._master.flat, self._master.round
        totals, seconds = self._metrics.totals(), self._elapsed()
        engine = self._engine

        def write() -> None:  # on the vote thread: the statistics are not mid-update
            state = ServerState(flat, round_index, engine.state_dict(), members, totals, seconds)
            save_server_state(
                checkpointing.out_dir, run, state, checkpointing.serving, checkpointing.asynchrony
            )

        started = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, write)
        except OSError as exc:
            self._owed = True
            log.error(
                "checkpoint at round %d failed (%s); training goes on, retrying at the next round",
                round_index,
                exc,
            )
            return False
        self._owed = False
        log.info(
            "checkpoint at round %d (%.0f ms)", round_index, (time.perf_counter() - started) * 1e3
        )
        return True

    async def save_retrying(self, give_up: Callable[[], bool]) -> None:
        """The last chance to save this run (SIGTERM): retry a failed write for a while,
        unless `give_up()` says the run ended meanwhile (nothing left to resume)."""
        for attempt in range(SUSPEND_CHECKPOINT_ATTEMPTS):
            if give_up() or await self.save():
                return
            await asyncio.sleep(0.5 * 2**attempt)
        log.error(
            "no checkpoint at round %d: a --resume continues from the previous one",
            self._master.round,
        )

    def drop(self) -> None:
        """A finished run needs no checkpoint: `--resume` on it would have nothing to do."""
        if self._checkpointing is not None:
            checkpoint_path(self._checkpointing.out_dir).unlink(missing_ok=True)
