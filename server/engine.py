"""The round step every backend runs: rows in -> decided update, x^{t+1}, its record.

`RoundEngine.step` is the one place a round's maths happen, for the gRPC coordinator
(server/coordinator.py) and the in-process simulation (signfed/simulation.py) alike:
the algorithm's aggregator decides from the rows of the clients that sent an update
(in client id order, each weighted by the examples behind it), the decision is encoded
as it will travel, and the master applies the decision *as received*, exactly as every
client replica does. So the backends cannot drift apart, and replicas stay bit-identical
under any encoding.

The engine sees NumPy arrays only: it imports neither grpc nor the generated stubs
(tests/unit/test_engine.py checks), so it runs wherever rows come from.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.algorithms import get_algorithm
from common.codecs import Layout
from common.config import ConfigError, RunConfig


@dataclass(frozen=True)
class Decided:
    """One closed round: what to broadcast and the model it leads to."""

    round: int
    payload: bytes  # the decision, encoded as it travels
    flat: np.ndarray  # (N,) float32: x^{round + 1}
    aggregate_ms: float
    client_weights: dict[int, float] = field(default_factory=dict)  # mean |w|, when asked for
    client_weights_signed: dict[int, float] = field(default_factory=dict)  # mean w: < 0 inverts


class RoundEngine:
    def __init__(self, run: RunConfig, num_params: int, layout: Layout = ()) -> None:
        self.run = run
        self.num_params = num_params
        self.algorithm = get_algorithm(run.aggregator.algorithm)
        # layout: the model's parameter blocks, so a ternary decision encodes compactly
        self.update_codec, self.decision_codec = self.algorithm.encodings(run, layout)
        self.aggregator = self.algorithm.aggregator(num_params, run.aggregator, layout)
        check_state_memory(run, self.aggregator.client_state_bytes())

    # ---- cadence: the same for every backend -----------------------------------------

    def last_round(self, t: int) -> bool:
        return t + 1 >= self.run.rounds

    def evaluate_due(self, t: int) -> bool:
        """Whether x^{t+1} is evaluated (and client weights reported) after round t."""
        return (t + 1) % self.run.eval_every == 0 or self.last_round(t)

    def digest_due(self, t: int) -> bool:
        """Whether round t's decision carries the digest of x^{t+1}."""
        return (t + 1) % self.run.digest_every == 0 or self.last_round(t)

    # ---- the step ----------------------------------------------------------------------

    def step(
        self,
        flat: np.ndarray,
        t: int,
        client_ids: Sequence[int],
        rows: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> Decided:
        """Round t from x^t: `rows` (M, row width) in the update codec's row form, one per
        client in `client_ids` order. Pure but for the aggregator's statistics."""
        started = time.perf_counter()
        decision = self.aggregator.aggregate(rows, client_ids, t, weights)
        aggregate_ms = (time.perf_counter() - started) * 1e3
        codec = self.decision_codec
        payload = codec.encode(decision)
        received = codec.decode(payload, self.num_params)
        lr = self.run.learning_rate_at(t)
        new_flat = self.algorithm.apply_payload(flat, received, codec, lr)
        # Read now, before the next round's rows change the statistics.
        means = self.aggregator.client_weight_means() if self.evaluate_due(t) else {}
        mean_abs = {client: pair[0] for client, pair in means.items()}
        signed = {client: pair[1] for client, pair in means.items()}
        return Decided(t, payload, new_flat, aggregate_ms, mean_abs, signed)

    def decode(self, payload: bytes) -> np.ndarray:
        """An update's payload as a row (validated: PayloadError)."""
        return self.update_codec.decode(payload, self.num_params)

    # ---- state for checkpoints -----------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.aggregator.state_dict()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.aggregator.load_state_dict(state)


def physical_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_state_memory(run: RunConfig, per_client: int, limit: int | None = None) -> None:
    """ConfigError when the aggregator's per-client state for every client the run can
    draw (all M, or at most K a round) would exceed `limit` (half the machine's memory).

    llr's per-coordinate counters cost 4N bytes per client that has voted: 23 GB for
    10,000 clients at N = 582k. With K of M drawn a round they are also a poor estimate:
    a client drawn r times has r draws per coordinate (after 5, its p is one of 6
    values and its weight mostly noise or +-clip), while --pooled counters (32 bytes a
    client) average N r draws, giving up only the spread of p across one client's
    coordinates, which a client that rarely votes cannot estimate anyway.
    benchmarks/llr_partial.py measures what pooling costs where both fit."""
    limit = physical_memory() // 2 if limit is None else limit
    drawn = run.clients_per_round or run.num_clients
    voters = min(run.num_clients, run.rounds * drawn)
    if voters * per_client > limit:
        raise ConfigError(
            f"--algorithm {run.aggregator.algorithm} keeps {per_client / 2**20:.1f} MiB of "
            f"counters per client: {voters} clients need {voters * per_client / 2**30:.1f} "
            f"GiB, over the {limit / 2**30:.1f} GiB allowed; {_fewer(run)}"
        )


def _fewer(run: RunConfig) -> str:
    if run.aggregator.algorithm == "llr":
        return "add --pooled (one crossing probability per client, made for many clients)"
    return "use fewer clients, or --algorithm llr --pooled"


def round_record(
    decided: Decided,
    *,
    clients: int,
    bytes_up: int,
    bytes_down: int,
    seconds: float,
    round_ms: float,
    erasures: Sequence[int] = (),
) -> dict[str, Any]:
    """One metrics.jsonl row, the same schema for every backend (accuracy and loss are
    added once the round's evaluation is done)."""
    record: dict[str, Any] = {
        "round": decided.round,
        "seconds": round(seconds, 4),
        "round_ms": round(round_ms, 3),
        "clients": clients,
        "bytes_up": bytes_up,
        "bytes_down": bytes_down,
        "aggregate_ms": round(decided.aggregate_ms, 3),
    }
    if erasures:
        record["erasures"] = list(erasures)
    if decided.client_weights:
        record["client_weights"] = {str(i): round(w, 6) for i, w in decided.client_weights.items()}
        signed = decided.client_weights_signed.items()
        record["client_weights_signed"] = {str(i): round(w, 6) for i, w in signed}
    return record
