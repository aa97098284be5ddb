"""What a split run records: one metrics.jsonl row per round and summary.json's fields,
the same for the coordinator and the simulation (the other runs' schema, plus the
split's own numbers)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from common.config import RunConfig
from common.split_model import Cut


def split_record(
    t: int,
    *,
    clients: int,
    bytes_up: int,
    bytes_down: int,
    seconds: float,
    round_ms: float,
    train_loss: float | None,
    steps: int,
    server_bytes: int,
) -> dict[str, Any]:
    """Round t's row: bytes and times as every run records them, the mean minibatch
    loss of the round's training, its minibatch exchanges, and the peak bytes of server
    parts (parameters and momentum) the round held."""
    record: dict[str, Any] = {
        "round": t,
        "seconds": round(seconds, 4),
        "round_ms": round(round_ms, 3),
        "clients": clients,
        "bytes_up": bytes_up,
        "bytes_down": bytes_down,
        "steps": steps,
        "server_part_bytes": server_bytes,
    }
    if train_loss is not None:  # U-shaped: the labels, hence the loss, stay on the clients
        record["train_loss"] = round(train_loss, 6)
    return record


def split_summary(
    *,
    runner: str,
    run: RunConfig,
    cut: Cut,
    encodings: tuple[str, str],
    rounds: int,
    model_digest: bytes,
    wall_seconds: float,
    error: str | None = None,
    replica_digests: dict[int, bytes] | None = None,
    replicas_identical: bool | None = None,
) -> dict[str, Any]:
    """summary.json's fields (server/summary.summary_fields' schema), plus the cut."""
    digests = replica_digests or {}
    return {
        "runner": runner,
        "rounds": rounds,
        "algorithm": run.aggregator.algorithm,
        "update_encoding": encodings[0],  # the activations'
        "decision_encoding": encodings[1],  # the gradients at the cut
        "num_params": cut.num_params,
        "model_digest": model_digest.hex(),
        "clients_reported": len(digests),
        "replica_digests": {str(i): d.hex() for i, d in sorted(digests.items())},
        "replicas_identical": replicas_identical,
        "error": error,
        "config": asdict(run),
        "wall_seconds": round(wall_seconds, 3),
        "attack": None,
        "split": {
            "variant": cut.variant,
            "cut_layer": cut.layer,
            "client_params": cut.client_size,
            "server_params": cut.num_params - cut.client_size,
        },
    }
