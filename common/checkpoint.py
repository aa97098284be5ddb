"""A training run's state in one file: the model, the round, named arrays and JSON.

Written atomically and durably (common/atomic.py: temp file, fsync, rename, fsync of
the directory), so a run killed mid-write, or a power cut, leaves the previous
checkpoint intact. Arrays go into an .npz (no pickles: loading never runs code); the
metadata rides along as a JSON string, and it carries the run's configuration, so a
checkpoint is never resumed under settings it was not made with.

A checkpoint is read back from disk, which may hold anything (a truncated copy, another
program's file, a crafted one): every failure to read it is one ValueError naming the
file. What the fields mean, and so which values are sane, is the reader's to check
(server/checkpoint_checks.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from common.atomic import write_atomic

FORMAT = "signfed.checkpoint.v1"


@dataclass(frozen=True)
class Checkpoint:
    flat: np.ndarray  # (N,) float32: the model x^round
    round: int  # the next round to run
    arrays: dict[str, np.ndarray]  # e.g. the aggregator's statistics
    meta: dict[str, Any]  # JSON-serialisable: configuration, counters


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    reserved = {"flat", "meta"} & set(checkpoint.arrays)
    if reserved:
        raise ValueError(f"array names {sorted(reserved)} are reserved by the checkpoint")
    meta = {"format": FORMAT, "round": checkpoint.round, **checkpoint.meta}
    named: dict[str, Any] = {
        "flat": np.asarray(checkpoint.flat, np.float32),
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
        **checkpoint.arrays,
    }

    def write(f: BinaryIO) -> None:  # a file object: np.savez would append ".npz" to a name
        np.savez(f, **named)

    write_atomic(path, write)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at `path`; ValueError naming the file when it is not one of ours."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    # Damaged bytes fail in many ways (BadZipFile, EOFError, zlib.error, a bad .npy
    # header, a shape too large to allocate): to the caller all mean "not readable".
    except Exception as exc:
        raise ValueError(f"{path} is not a readable checkpoint: {_one_line(exc)}") from None
    if "flat" not in arrays or "meta" not in arrays:
        raise ValueError(f"{path} is not a signfed checkpoint (no model or metadata)")
    meta = _meta(path, arrays.pop("meta"))
    if meta.pop("format", None) != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    round_index = meta.pop("round", None)
    if type(round_index) is not int:  # not bool, not 3.0
        raise ValueError(f"{path}: 'round' must be an integer, got {round_index!r}")
    return Checkpoint(flat=arrays.pop("flat"), round=round_index, arrays=arrays, meta=meta)


def _meta(path: str | Path, raw: np.ndarray) -> dict[str, Any]:
    """The metadata object, from its bytes; ValueError unless it is a JSON object."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path}: 'meta' must be JSON bytes, got {raw.dtype} {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: 'meta' is not JSON ({_one_line(exc)})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: 'meta' must be a JSON object, got {type(meta).__name__}")
    return meta


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: errors end up on a terminal as one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
