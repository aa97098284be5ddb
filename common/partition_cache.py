"""The owner array of a run's partition, kept on disk so the next run skips computing it.

A file is named by a hash of its key: the dataset's name, a SHA-256 of its labels, the
scheme with the settings it reads, the number of clients and the seed. The key is
stored inside too, with a SHA-256 of the owner bytes; a file that cannot be read,
holds another key, has the wrong shape, owners out of range or a bad checksum is
logged as a WARNING and rebuilt. A cache that cannot be written costs a WARNING, never
the run. Files are written whole (a unique temp file renamed over the name), since
several client processes may build the same partition at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import partitions
from common.atomic import fsync_directory

if TYPE_CHECKING:  # the annotation only: the cache stays free of the config module
    from common.config import RunConfig

log = logging.getLogger(__name__)

# Part of every key: bump it when any scheme's assignment changes, so that files
# written by the old code are never taken for the new partition.
CACHE_FORMAT = 1
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def labels_fingerprint(labels: np.ndarray) -> str:
    """SHA-256 of the labels as little-endian int64 (int32 and int64 labels agree)."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8").tobytes()).hexdigest()


def owners_checksum(owners: np.ndarray) -> str:
    """SHA-256 of the owners as little-endian int64 bytes."""
    return hashlib.sha256(np.ascontiguousarray(owners, dtype="<i8").tobytes()).hexdigest()


def partition_key(run: RunConfig, labels: np.ndarray, dataset_name: str) -> dict[str, Any]:
    """What the owner array depends on; only the settings the scheme reads, so that an
    irrelevant flag (--dirichlet-alpha in an iid run) does not split the cache."""
    key: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "dataset": dataset_name,
        "labels_sha256": labels_fingerprint(labels),
        "num_samples": int(labels.size),
        "scheme": run.partition,
        "num_clients": run.num_clients,
        "seed": run.seed,
        "partition_sizes": run.partition_sizes,
    }
    if run.partition == "classes":
        key["classes_per_client"] = run.classes_per_client
    if run.partition == "dirichlet":
        key["dirichlet_alpha"] = run.dirichlet_alpha  # JSON keeps a float's every bit
    if run.partition_sizes == "lognormal":
        key["size_sigma"] = run.size_sigma
    if run.partition_sizes == "powerlaw":
        key["size_alpha"] = run.size_alpha
    return key


def key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def cache_path(cache_dir: Path, key: dict[str, Any]) -> Path:
    """<cache_dir>/partition-<dataset>-<scheme>-<M>c-<hash prefix>.npz: readable names,
    the hash tells apart what the name does not show."""
    digest = hashlib.sha256(key_text(key).encode()).hexdigest()[:16]
    dataset = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key["dataset"])) or "data"
    return cache_dir / f"partition-{dataset}-{key['scheme']}-{key['num_clients']}c-{digest}.npz"


def load_owners(path: Path, key: dict[str, Any]) -> np.ndarray | None:
    """The owner array stored at `path` under `key`; None when there is none, or when
    the file fails a check (logged as a WARNING with the reason)."""
    if not path.exists():
        return None
    try:
        stored = np.load(path, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("not an .npz archive")
        with stored:
            stored_key, owners = str(stored["key"]), stored["owners"]
            checksum = str(stored["owners_sha256"])
    except _UNREADABLE as exc:
        reason = f"unreadable ({type(exc).__name__}: {exc})"
    else:
        reason = _fault(key, stored_key, owners, checksum)
    if reason:
        log.warning("partition cache %s is invalid: %s; partitioning again", path, reason)
        return None
    return owners.astype(np.int64, copy=False)


def _fault(key: dict[str, Any], stored_key: str, owners: np.ndarray, checksum: str) -> str:
    """What is wrong with a file's contents ("": nothing)."""
    num_samples, num_clients = key["num_samples"], key["num_clients"]
    if stored_key != key_text(key):
        return "it holds another partition's key"
    if owners.shape != (num_samples,) or not np.issubdtype(owners.dtype, np.integer):
        return f"owners are {owners.dtype} {owners.shape}, not ({num_samples},)"
    if owners_checksum(owners) != checksum:
        return "the owners' SHA-256 does not match"
    if owners.min() < -1 or owners.max() >= num_clients:
        return f"owners lie outside [-1, {num_clients - 1}]"
    if np.bincount(owners[owners >= 0], minlength=num_clients).min() < 1:
        return "some client holds no example"
    return ""


def store_owners(path: Path, key: dict[str, Any], owners: np.ndarray) -> bool:
    """Write `owners` under `key` to `path` whole; False (and a WARNING) when the
    folder cannot be written: the run goes on without a cache."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                key=np.array(key_text(key)),
                owners=owners,
                owners_sha256=np.array(owners_checksum(owners)),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        log.warning("cannot write partition cache %s (%s); going on without it", path, exc)
        return False
    return True


def cached_owners(
    run: RunConfig, labels: np.ndarray, cache_dir: Path | None, dataset_name: str
) -> np.ndarray:
    """(N,) int64 owners of the run's (disjoint) partition: loaded from `cache_dir`
    when a valid file has the key, else computed and stored there. None: no cache."""
    labels = np.asarray(labels)
    if cache_dir is None:
        return partitions.run_owners(run, labels)
    key = partition_key(run, labels, dataset_name)
    path = cache_path(Path(cache_dir), key)
    owners = load_owners(path, key)
    if owners is not None:
        log.info("partition cache hit: loaded %s, skipped partitioning", path)
        return owners
    start = time.perf_counter()
    owners = partitions.run_owners(run, labels)
    seconds = time.perf_counter() - start
    if store_owners(path, key, owners):
        log.info(
            "partitioned %d examples among %d clients in %.2f s; cached in %s",
            labels.size,
            run.num_clients,
            seconds,
            path,
        )
    return owners
