"""`signfed simulate`: every client of a run in one process, without gRPC.

The same pieces as the networked run, called directly: each client's `LocalTrainer`
computes its vote from x^t, the server's aggregator decodes the stacked votes in client
id order, and `MasterModel` applies x - lr_t * U and evaluates. Minibatches, coins and
initial weights are functions of (seed, client, round), so for the same configuration
the simulation ends at the same model, bit for bit, as `signfed local` (a test checks the
digests) and writes the same metrics.jsonl and summary.json.

"sgd" is the float32 baseline that only a simulation can afford: the clients' gradients
averaged with weights B_m / sum(B) (the gradient of the union of their minibatches), so
it is plain SGD with the whole cohort's batch.

A checkpoint every `checkpoint_every` rounds lets a killed run continue where it was:
the rerun of the lost rounds draws the same minibatches and gives the same bits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from client.trainer import LocalTrainer
from common.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from common.codec import unpack_signs
from common.config import ConfigError, config_json
from common.data import Dataset, load_dataset
from common.params import digest
from common.proto import signfed_pb2 as pb
from common.wire import decision_messages, vote_messages, wire_size
from common.aggregators import Aggregator, create_aggregator
from server.master import MasterModel
from server.metrics import MetricsWriter
from signfed.progress import Progress
from signfed.simulation_config import SimulationConfig

log = logging.getLogger(__name__)

SGD = "sgd"
CHECKPOINT = "checkpoint.npz"


class Simulation:
    def __init__(self, config: SimulationConfig, dataset: Dataset | None = None) -> None:
        run = config.run
        self.config = config
        self.run = run
        self.out = Path(config.out_dir)
        self.dataset = dataset or load_dataset(run.dataset, config.data_dir, seed=run.seed)
        self.master = MasterModel(run, self.dataset)
        self.num_params = self.master.num_params
        self.trainers = [
            LocalTrainer(run, i, run.batch_size_for(i), self.dataset)
            for i in range(run.num_clients)
        ]
        self.client_ids = list(range(run.num_clients))
        self.aggregator: Aggregator | None = None
        if run.aggregator.algorithm != SGD:
            self.aggregator = create_aggregator(run.aggregator, self.num_params)
        sizes = np.array([t.batch_size for t in self.trainers], dtype=np.float64)
        self._sgd_weights = sizes / sizes.sum()  # (M,) B_m / sum(B)
        self._elapsed_before = 0.0  # seconds spent before a resumed checkpoint

    # ---- one round -------------------------------------------------------------------

    def step(self, t: int) -> dict[str, Any]:
        """Round t: every client's update, the aggregate, x^{t+1}. Returns its record."""
        started = time.perf_counter()
        flat = self.master.flat
        if self.aggregator is None:
            new_flat, aggregate_ms, up, down = self._sgd_step(flat, t)
        else:
            new_flat, aggregate_ms, up, down = self._sign_step(self.aggregator, flat, t)
        self.master.commit(new_flat, t + 1)
        record: dict[str, Any] = {
            "round": t,
            "clients": len(self.trainers),
            "bytes_up": up,
            "bytes_down": down,
            "aggregate_ms": round(aggregate_ms, 3),
            # As the server counts it: the round's work, not the evaluation after it.
            "round_ms": round((time.perf_counter() - started) * 1e3, 3),
        }
        last_round = t + 1 >= self.run.rounds
        if (t + 1) % self.run.eval_every == 0 or last_round:
            accuracy, loss = self.master.evaluate(new_flat)
            record["accuracy"] = round(accuracy, 6)
            record["loss"] = round(loss, 6)
            weights = self.aggregator.client_weight_summary() if self.aggregator else {}
            if weights:
                record["client_weights"] = {str(i): round(w, 6) for i, w in weights.items()}
        return record

    def _sign_step(
        self, aggregator: Aggregator, flat: np.ndarray, t: int
    ) -> tuple[np.ndarray, float, int, int]:
        votes = np.stack([trainer.vote(flat, t) for trainer in self.trainers])  # (M, N/8) uint8
        started = time.perf_counter()
        decision = aggregator.aggregate(votes, self.client_ids, t)
        aggregate_ms = (time.perf_counter() - started) * 1e3
        new_flat = self.master.updated(unpack_signs(decision, self.num_params), t)
        # Bytes as the networked run counts them: the same messages, built and measured
        # (all but the Attach that opens each client's stream, ~27 B, once).
        chunk = self.config.wire.chunk_bytes
        up = sum(wire_size(m) for v in votes for m in vote_messages(t, v, self.num_params, chunk))
        last_round = t + 1 >= self.run.rounds
        digest_due = (t + 1) % self.run.digest_every == 0 or last_round
        model_digest = digest(new_flat) if digest_due else b""
        messages = decision_messages(t, decision, self.num_params, chunk, model_digest)
        down = sum(wire_size(m) for m in messages) * len(self.trainers)
        if t == self.master.round == 0:  # the RoundStart that admits everyone to round 0
            start = pb.ServerMessage(start=pb.RoundStart(round=0, model_digest=self.master.digest))
            down += wire_size(start) * len(self.trainers)
        return new_flat, aggregate_ms, up, down

    def _sgd_step(self, flat: np.ndarray, t: int) -> tuple[np.ndarray, float, int, int]:
        gradients = [trainer.gradient(flat, t) for trainer in self.trainers]
        started = time.perf_counter()
        mean = np.zeros(self.num_params, dtype=np.float64)
        for weight, gradient in zip(self._sgd_weights, gradients, strict=True):
            mean += weight * gradient
        lr = np.float32(self.run.learning_rate_at(t))
        new_flat = np.asarray(flat, np.float32) - lr * mean.astype(np.float32)
        aggregate_ms = (time.perf_counter() - started) * 1e3
        payload = 4 * self.num_params * len(self.trainers)  # float32 vectors, each way
        return new_flat, aggregate_ms, payload, payload

    # ---- the whole run -----------------------------------------------------------------

    def run_all(self, progress: Progress | None = None) -> dict[str, Any]:
        """Run (or resume) to the last round; returns what summary.json holds."""
        first, metrics = self._open()
        started = time.perf_counter()
        try:
            for t in range(first, self.run.rounds):
                record = self.step(t)
                elapsed = self._elapsed_before + time.perf_counter() - started
                record["seconds"] = round(elapsed, 4)
                metrics.round(record, num_params=self.num_params)
                if progress is not None:
                    progress.add(record)
                every = self.config.checkpoint_every
                if every and (t + 1) % every == 0 and t + 1 < self.run.rounds:
                    self._save(metrics, elapsed)
            summary = metrics.summary(self._summary_fields(time.perf_counter() - started))
        finally:
            metrics.close()
        (self.out / CHECKPOINT).unlink(missing_ok=True)
        return summary

    def _summary_fields(self, seconds: float) -> dict[str, Any]:
        return {
            "rounds": self.master.round,
            "algorithm": self.run.aggregator.algorithm,
            "num_params": self.num_params,
            # One process holds the one replica: there are no client replicas to compare.
            "clients_reported": 0,
            "replicas_identical": None,
            "replica_digests": {},
            "model_digest": self.master.digest.hex(),
            "error": None,
            "config": asdict(self.run),
            "runner": "simulate",
            "wall_seconds": round(self._elapsed_before + seconds, 3),
        }

    def _open(self) -> tuple[int, MetricsWriter]:
        """(first round to run, metrics writer): resumed from a checkpoint of this very
        run, or fresh with stale outputs removed."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / CHECKPOINT
        if not path.exists():
            for stale in ("metrics.jsonl", "summary.json"):
                (self.out / stale).unlink(missing_ok=True)
            return 0, MetricsWriter(self.out)
        ckpt = load_checkpoint(path)
        theirs, ours = ckpt.meta.get("config", {}), config_json(self.run)
        if theirs != ours:
            differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
            raise ConfigError(
                f"{path} belongs to another run (it differs in {', '.join(differ)}); "
                "use another --out, or delete the checkpoint to start afresh"
            )
        self.master.commit(ckpt.flat, ckpt.round)
        if self.aggregator is not None:
            self.aggregator.load_state_dict(ckpt.arrays)
        self._elapsed_before = float(ckpt.meta["seconds"])
        log.info("resuming %s at round %d", self.out, ckpt.round)
        return ckpt.round, MetricsWriter.resumed(self.out, ckpt.meta["metrics"], ckpt.round)

    def _save(self, metrics: MetricsWriter, elapsed: float) -> None:
        state = self.aggregator.state_dict() if self.aggregator else {}
        meta = {"config": config_json(self.run), "metrics": metrics.totals(), "seconds": elapsed}
        save_checkpoint(
            self.out / CHECKPOINT,
            Checkpoint(flat=self.master.flat, round=self.master.round, arrays=state, meta=meta),
        )
