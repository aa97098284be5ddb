"""`signfed simulate`: every client of a run in one process, without gRPC.

The networked run's pieces, called directly: a ClientPool (signfed/client_pool.py)
computes each client's update from x^t and encodes it as it would travel; the round
engine (server/engine.py), the very step the server's coordinator runs, decides and
applies. Minibatches, coins and initial weights are functions of (seed, client,
round), so for the same configuration the simulation ends at the same model, bit for
bit, as `signfed local` (tests check the digests, for llr and sgd) and writes the same
metrics.jsonl and summary.json schema, its byte counts those of the messages the
networked run would send.

A checkpoint every `checkpoint_every` rounds, in the server's format
(server/checkpoints.py), lets a killed run continue where it was: the rerun of the
lost rounds draws the same minibatches and gives the same bits.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from common.attacks import attacker_ids
from common.data import Dataset, load_dataset
from common.wire import payload_size, round_start, wire_size
from server.checkpoints import ServerState, checkpoint_path, load_server_state, save_server_state
from server.engine import RoundEngine
from server.ledger import RoundLedger
from server.master import MasterModel
from server.metrics import MetricsWriter
from server.run_dir import RUN_FILES
from server.summary import summary_fields
from signfed.client_pool import ClientPool, PoolSpec, make_pool
from signfed.clock import VirtualClock
from signfed.progress import Progress
from signfed.simulation_config import SimulationConfig

log = logging.getLogger(__name__)


class Simulation:
    def __init__(
        self,
        config: SimulationConfig,
        dataset: Dataset | None = None,
        pool: ClientPool | None = None,
    ) -> None:
        run = config.run
        self.config = config
        self.run = run
        self.out = Path(config.out_dir)
        self.dataset = dataset or load_dataset(run.dataset, config.data_dir, seed=run.seed)
        self.master = MasterModel(run, self.dataset)
        self.num_params = self.master.num_params
        self.engine = RoundEngine(run, self.num_params, self.master.layout)
        spec = PoolSpec(run, config.attack, config.data_dir, config.threads)
        self.pool: ClientPool = pool or make_pool(spec, config.pool, self.dataset)
        # --virtual-clock: each round timed as the async simulation times updates
        self.clock = None
        if config.clock.virtual_clock:
            self.clock = VirtualClock(config.clock, run.seed, self.pool.steps_per_update)
        self.virtual_seconds = 0.0
        # Bytes, round time and training seconds (a resumed run's earlier ones included),
        # counted and turned into records as the server's coordinator does.
        self._ledger = RoundLedger()
        self._ledger.start()

    # ---- one round -------------------------------------------------------------------

    def step(self, t: int) -> dict[str, Any]:
        """Round t: every client's update, the decision, x^{t+1}. Returns its record."""
        self._ledger.open()
        engine, flat, start_digest = self.engine, self.master.flat, self.master.digest
        ids = list(self.run.drawn(t))  # the clients drawn for round t, as the server draws
        late: list[int] = []
        if self.clock is not None:  # a virtual deadline leaves the late members out
            length, in_time = self.clock.round_close(ids, t)
            late = [c for c in ids if c not in in_time]
            ids = in_time
            self.virtual_seconds += length
        payloads = self.pool.updates(flat, t, ids)
        rows = np.stack([engine.decode(p) for p in payloads])
        decided = engine.step(flat, t, ids, rows, self.pool.weights[ids])
        self.master.commit(decided.flat, t + 1)
        up, down = self._wire_bytes(t, payloads, decided.payload, start_digest)
        self._ledger.up(up)
        self._ledger.down(down)
        # As the server counts it: the round's work, not the evaluation after it.
        record = self._ledger.close(decided, clients=len(payloads), erasures=late)
        if self.clock is not None:
            record["virtual_seconds"] = round(self.virtual_seconds, 6)
        if engine.evaluate_due(t):
            accuracy, loss = self.master.evaluate(decided.flat)
            record["accuracy"] = round(accuracy, 6)
            record["loss"] = round(loss, 6)
        return record

    def _wire_bytes(
        self, t: int, payloads: list[bytes], decision: bytes, start_digest: bytes
    ) -> tuple[int, int]:
        """Bytes as the networked run counts them: the sizes of the same messages (all but
        the Attach that opens each client's stream, ~27 B, once)."""
        engine, n, chunk = self.engine, self.num_params, self.config.wire.chunk_bytes
        up = sum(payload_size(t, len(p), engine.update_codec, n, chunk) for p in payloads)
        model_digest = self.master.digest if engine.digest_due(t) else b""
        members = self.run.num_clients  # every member receives the decision
        down = payload_size(
            t, len(decision), engine.decision_codec, n, chunk, decision=True,
            model_digest=model_digest,
        ) * members  # fmt: skip
        if t == 0:  # the RoundStart that admits everyone to round 0
            down += wire_size(round_start(0, start_digest)) * members
        return up, down

    # ---- the whole run -----------------------------------------------------------------

    def run_all(self, progress: Progress | None = None) -> dict[str, Any]:
        """Run (or resume) to the last round; returns what summary.json holds."""
        first, metrics = self._open()
        self._ledger.start()
        try:
            for t in range(first, self.run.rounds):
                record = self.step(t)
                metrics.round(record, num_params=self.num_params)
                if progress is not None:
                    progress.add(record)
                every = self.config.checkpoint_every
                if every and (t + 1) % every == 0 and t + 1 < self.run.rounds:
                    self._save(metrics, record["seconds"])
            # the server's schema, plus the clock's settings where a virtual clock ran
            timing = {k: v for k, v in self.config.timing_record().items() if v is not None}
            summary = metrics.summary(
                timing
                | summary_fields(
                    runner="simulate",
                    run=self.run,
                    engine=self.engine,
                    rounds=self.master.round,
                    model_digest=self.master.digest,
                    wall_seconds=self._ledger.elapsed(),
                    attack=self._attack_record(),
                )
            )
        finally:
            metrics.close()
            self.pool.close()
        checkpoint_path(self.out).unlink(missing_ok=True)
        return summary

    def _attack_record(self) -> dict[str, Any] | None:
        attack = self.config.attack
        if attack.attack == "none":
            return None
        ids = attacker_ids(self.run.seed, self.run.num_clients, attack.attackers)
        return {**asdict(attack), "ids": list(ids)}

    def _open(self) -> tuple[int, MetricsWriter]:
        """(first round to run, metrics writer): resumed from a checkpoint of this very
        run, or fresh with stale outputs removed."""
        self.out.mkdir(parents=True, exist_ok=True)
        if not checkpoint_path(self.out).exists():
            for stale in RUN_FILES:  # no checkpoint: nothing here belongs to this run
                (self.out / stale).unlink(missing_ok=True)
            return 0, MetricsWriter(self.out)
        state = load_server_state(self.out, self.run, self.num_params)
        self.master.commit(state.flat, state.round)
        self.engine.load_state_dict(state.aggregator)
        self._ledger.seconds_before = state.seconds
        if self.clock is not None:  # the clock is a function of the rounds alone
            drawn = (self.run.drawn(t) for t in range(state.round))
            self.virtual_seconds = sum(
                self.clock.round_close(ids, t)[0] for t, ids in enumerate(drawn)
            )
        log.info("resuming %s at round %d", self.out, state.round)
        return state.round, MetricsWriter.resumed(self.out, state.metrics, state.round)

    def _save(self, metrics: MetricsWriter, elapsed: float) -> None:
        members = [
            {"client_id": i, "name": f"client-{i}", "batch_size": self.run.batch_size_for(i)}
            for i in self.pool.client_ids
        ]
        state = ServerState(
            self.master.flat,
            self.master.round,
            self.engine.state_dict(),
            members,
            metrics.totals(),
            elapsed,
        )
        save_server_state(self.out, self.run, state)
