"""summary.json's fields besides the metrics totals: one schema for every runner.

The server (networked, `signfed server` / `local` / compose) and the in-process
simulation write the same keys, so reports, tests and people read either alike.
Where a runner has nothing to say (the simulation has no client replicas), the value
says so: 0 clients reported, `replicas_identical` null.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from common.config import RunConfig
from server.engine import RoundEngine


def summary_fields(
    *,
    runner: str,
    run: RunConfig,
    engine: RoundEngine,
    rounds: int,
    model_digest: bytes,
    wall_seconds: float,
    error: str | None = None,
    replica_digests: dict[int, bytes] | None = None,
    replicas_identical: bool | None = None,
    attack: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of a run of a round algorithm (its codecs and size from the engine)."""
    return run_fields(
        runner=runner, run=run, encodings=(engine.update_codec.name, engine.decision_codec.name),
        num_params=engine.num_params, rounds=rounds, model_digest=model_digest,
        wall_seconds=wall_seconds, error=error, replica_digests=replica_digests,
        replicas_identical=replicas_identical, attack=attack,
    )  # fmt: skip


def run_fields(
    *,
    runner: str,
    run: RunConfig,
    encodings: tuple[str, str],  # (updates, decisions) as they travelled
    num_params: int,
    rounds: int,
    model_digest: bytes,
    wall_seconds: float,
    error: str | None = None,
    replica_digests: dict[int, bytes] | None = None,
    replicas_identical: bool | None = None,
    attack: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every run's summary fields, whatever trained it (split learning adds its own)."""
    digests = replica_digests or {}
    return {
        "runner": runner,  # "server" or "simulate"
        "rounds": rounds,
        "algorithm": run.aggregator.algorithm,
        "update_encoding": encodings[0],
        "decision_encoding": encodings[1],
        "num_params": num_params,
        "model_digest": model_digest.hex(),
        # Each client's final replica, by client id, as it reported in its Goodbye.
        "clients_reported": len(digests),
        "replica_digests": {str(i): d.hex() for i, d in sorted(digests.items())},
        "replicas_identical": replicas_identical,
        "error": error,
        "config": asdict(run),
        "wall_seconds": round(wall_seconds, 3),
        # Who attacked and how, where the runner knows it (the simulation); the server
        # is never told.
        "attack": attack,
    }


def against_float32(compression: float | None) -> str:
    """'12.3x less than float32' (bytes vs sending float32 models both ways every round),
    or for a run that sends more (split learning's tensors at the cut): '4.0x more ...'."""
    if not compression:
        return "no bytes"
    if compression >= 1:
        return f"{compression:.1f}x less than float32"
    return f"{1 / compression:.1f}x more than float32 models"
