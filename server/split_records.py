"""What a split run records: one metrics.jsonl row per round and summary.json's fields,
the same for the coordinator and the simulation (the other runs' schema, plus the
split's own numbers)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from common.split_model import Cut
from server.records import RoundRecords, evaluated
from server.summary import run_fields


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


def split_summary(*, cut: Cut, **fields: Any) -> dict[str, Any]:
    """summary.json's fields (server/summary.run_fields: `encodings` are the activations'
    and the cut gradients'), plus the cut."""
    return run_fields(num_params=cut.num_params, **fields) | {
        "split": {
            "variant": cut.variant,
            "cut_layer": cut.layer,
            "client_params": cut.client_size,
            "server_params": cut.num_params - cut.client_size,
        },
    }


class SplitRecords(RoundRecords):
    """Round records in round order (server/records.py), logged with their steps."""

    def describe(self, record: dict[str, Any]) -> str:
        return (
            f"round {record['round']}  clients {record['clients']}  steps {record['steps']}  "
            f"up {record['bytes_up']} B  down {record['bytes_down']} B{evaluated(record)}"
        )


@dataclass
class RoundTally:
    """What a round of the coordinator counts as it goes, until its record."""

    bytes: list[int] = field(default_factory=lambda: [0, 0])  # (up, down)
    steps: int = 0
    loss: float = 0.0  # the server's minibatch losses (not U-shaped: it has no labels)
    server_bytes: int = 0
    clients: int = 0  # turns that ended with the client's part
    started: float = field(default_factory=time.monotonic)

    def record(self, t: int, seconds: float, ushaped: bool) -> dict[str, Any]:
        """Round t's record (the coordinator starts a new tally for the next round)."""
        record = split_record(
            t, clients=self.clients, bytes_up=self.bytes[0], bytes_down=self.bytes[1],
            seconds=seconds, round_ms=(time.monotonic() - self.started) * 1e3,
            train_loss=None if ushaped else self.loss / max(1, self.steps),
            steps=self.steps, server_bytes=self.server_bytes,
        )  # fmt: skip
        return record
