"""A training run's state in one file: the model, the round, named arrays and JSON.

Written atomically (temp file + rename), so a run killed mid-write leaves the previous
checkpoint intact. Arrays go into an .npz (no pickles: loading never runs code); the
metadata rides along as a JSON string, and it carries the run's configuration, so a
checkpoint is never resumed under settings it was not made with.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "signfed.checkpoint.v1"


@dataclass(frozen=True)
class Checkpoint:
    flat: np.ndarray  # (N,) float32: the model x^round
    round: int  # the next round to run
    arrays: dict[str, np.ndarray]  # e.g. the aggregator's statistics
    meta: dict[str, Any]  # JSON-serialisable: configuration, counters


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    path = Path(path)
    reserved = {"flat", "meta"} & set(checkpoint.arrays)
    if reserved:
        raise ValueError(f"array names {sorted(reserved)} are reserved by the checkpoint")
    meta = {"format": FORMAT, "round": checkpoint.round, **checkpoint.meta}
    tmp = path.with_name(path.name + ".tmp")
    named: dict[str, Any] = {
        "flat": np.asarray(checkpoint.flat, np.float32),
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
        **checkpoint.arrays,
    }
    with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
        np.savez(f, **named)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at `path`; ValueError naming the file when it is not one of ours."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable checkpoint: {exc}") from None
    if "flat" not in arrays or "meta" not in arrays:
        raise ValueError(f"{path} is not a signfed checkpoint (no model or metadata)")
    meta = json.loads(arrays.pop("meta").tobytes())
    if meta.pop("format", None) != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    return Checkpoint(
        flat=arrays.pop("flat"), round=int(meta.pop("round")), arrays=arrays, meta=meta
    )
