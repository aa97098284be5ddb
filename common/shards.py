"""Every client's share of the training set, computed once: a table for many clients.

`partition_indices` answers one client with a pass over all examples; asking it for
each of 10,000 virtual clients is 10,000 passes. `Shards` keeps the owner array as a
table instead (CSR style): the held examples sorted by owner, stable so each client's
run stays in increasing example order, plus each client's offset into that order.
Memory is O(examples + clients) and a client's indices are one slice.

For "copy" nothing is stored: a client's shuffled copy is drawn when asked for, as
`partition_indices` draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.partition_cache import cached_owners
from common.partitions import copy_indices

if TYPE_CHECKING:  # the annotation only: shards stays free of the config module
    from common.config import RunConfig


class Shards:
    """Which examples each of `num_clients` clients holds (build with `from_owners`,
    `copies` or `client_shards`)."""

    def __init__(
        self,
        *,
        num_clients: int,
        num_samples: int,
        order: np.ndarray | None,
        offsets: np.ndarray | None,
        seed: int,
    ) -> None:
        self.num_clients = num_clients
        self.num_samples = num_samples
        self._order = order  # (held examples,) int64, grouped by owner; None for copies
        self._offsets = offsets  # (num_clients + 1,) int64 into _order
        self._seed = seed  # draws the copies' orders
        if offsets is None:
            sizes = np.full(num_clients, num_samples, dtype=np.int64)
        else:
            sizes = np.diff(offsets)
        sizes.flags.writeable = False  # shared with every caller
        self._sizes = sizes

    @classmethod
    def from_owners(cls, owners: np.ndarray, num_clients: int) -> Shards:
        """The table of an owner array ((N,) ints, -1 for an example nobody holds)."""
        owners = np.asarray(owners)
        if owners.ndim != 1 or not np.issubdtype(owners.dtype, np.integer):
            raise ValueError(f"owners must be a 1-D integer array, got {owners.shape}")
        if owners.size and not (owners.min() >= -1 and owners.max() < num_clients):
            raise ValueError(f"owners must lie in [-1, {num_clients - 1}]")
        counts = np.bincount(owners + 1, minlength=num_clients + 1)  # counts[0]: nobody's
        order = np.argsort(owners, kind="stable")[counts[0] :].astype(np.int64)
        offsets = np.concatenate(([0], np.cumsum(counts[1:]))).astype(np.int64)
        return cls(
            num_clients=num_clients,
            num_samples=owners.size,
            order=order,
            offsets=offsets,
            seed=0,
        )

    @classmethod
    def copies(cls, num_samples: int, num_clients: int, seed: int) -> Shards:
        """Scheme "copy": every client all `num_samples` examples in its own order."""
        return cls(
            num_clients=num_clients, num_samples=num_samples, order=None, offsets=None, seed=seed
        )

    @property
    def sizes(self) -> np.ndarray:
        """(num_clients,) int64, read-only: how many examples each client holds."""
        return self._sizes

    def indices(self, client_id: int) -> np.ndarray:
        """int64 indices client `client_id` holds: what `partition_indices` returns
        (increasing for a disjoint scheme, the client's permutation for "copy")."""
        if not 0 <= client_id < self.num_clients:
            raise ValueError(f"client_id must be in [0, {self.num_clients - 1}], got {client_id}")
        if self._order is None or self._offsets is None:
            return copy_indices(self.num_samples, client_id, self._seed)
        start, stop = self._offsets[client_id], self._offsets[client_id + 1]
        return self._order[start:stop].copy()  # a copy: callers may shuffle it in place

    def __len__(self) -> int:
        return self.num_clients


def client_shards(
    run: RunConfig, labels: np.ndarray, cache_dir: Path | None, dataset_name: str
) -> Shards:
    """Every client's share under the run's partition settings, in one pass.

    With a `cache_dir` the owner array is kept there (common.partition_cache), keyed by
    `dataset_name`, the labels' fingerprint and the partition settings: the next run
    with the same key loads it instead of partitioning again. None: no cache."""
    labels = np.asarray(labels)
    if run.partition == "copy":
        return Shards.copies(labels.size, run.num_clients, run.seed)
    owners = cached_owners(run, labels, cache_dir, dataset_name)
    return Shards.from_owners(owners, run.num_clients)
