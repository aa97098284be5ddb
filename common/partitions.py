"""Which training examples each client holds.

Every client computes its own share independently from (labels, num_clients, scheme,
seed): nothing is exchanged, so the whole assignment is a pure function of those
arguments and any client, restarted or simulated, gets the same indices.

Schemes:
- "copy": every client holds the whole training set in its own shuffled order (the
  paper's setting).
- "iid": disjoint, equal-size shards of one seeded permutation.
- "classes": label skew; each client holds `classes_per_client` classes, spread so every
  class is held by as equal a number of clients as possible, and a class's examples
  are split disjointly among the clients that hold it.
- "dirichlet": for each class, proportions across clients drawn from Dir(alpha)
  (the usual non-IID recipe); every client ends up with at least one example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the annotation only: partitions stays free of the config module
    from common.config import RunConfig

SCHEMES = ("copy", "iid", "classes", "dirichlet")

# A purpose tag in every seed: numpy's SeedSequence ignores trailing zeros, so
# default_rng([seed, client_id]) would otherwise be the very stream that
# common.sampling uses for epoch 0 (default_rng([seed, client_id, 0])).
_TAG = 0x50415254  # "PART"


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TAG, *keys])


def _owners_iid(num_samples: int, num_clients: int, seed: int) -> np.ndarray:
    owner = np.empty(num_samples, dtype=np.int64)
    for client, shard in enumerate(
        np.array_split(_rng(seed).permutation(num_samples), num_clients)
    ):
        owner[shard] = client
    return owner


def class_assignment(
    classes: np.ndarray, num_clients: int, classes_per_client: int, seed: int
) -> list[np.ndarray]:
    """The classes each client holds, (classes_per_client,) per client.

    Clients take consecutive runs of a seeded cyclic order of the classes, so the
    num_clients * classes_per_client slots fall on every class floor or ceil of
    slots / num_classes times, and no client gets a class twice.
    """
    order = _rng(seed, 1).permutation(classes)
    slots = np.arange(num_clients * classes_per_client).reshape(num_clients, -1)
    return list(order[slots % len(order)])


def _owners_classes(
    labels: np.ndarray, num_clients: int, classes_per_client: int, seed: int
) -> np.ndarray:
    classes = np.unique(labels)
    if classes_per_client > len(classes):
        raise ValueError(
            f"classes_per_client={classes_per_client} exceeds the {len(classes)} classes "
            "in the labels"
        )
    held = class_assignment(classes, num_clients, classes_per_client, seed)
    owner = np.full(len(labels), -1, dtype=np.int64)  # -1: held by no client
    for cls in classes:
        holders = [client for client in range(num_clients) if cls in held[client]]
        members = np.flatnonzero(labels == cls)
        if holders and len(members) < len(holders):
            raise ValueError(
                f"class {cls} has {len(members)} examples but {len(holders)} clients hold it; "
                "use fewer clients or a larger classes_per_client"
            )
        shuffled = _rng(seed, 2, int(cls)).permutation(members)
        for client, part in zip(holders, np.array_split(shuffled, len(holders)), strict=True):
            owner[part] = client
    return owner


def _owners_dirichlet(labels: np.ndarray, num_clients: int, alpha: float, seed: int) -> np.ndarray:
    rng = _rng(seed, 3)
    owner = np.empty(len(labels), dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        for client, part in enumerate(np.split(members, cuts)):
            owner[part] = client
    # Small alpha leaves some clients empty; each takes one example from whoever holds
    # the most (lowest client id on ties, highest example index), deterministically.
    counts = np.bincount(owner, minlength=num_clients)
    for empty in np.flatnonzero(counts == 0):
        donor = int(np.argmax(counts))
        example = np.flatnonzero(owner == donor)[-1]
        owner[example] = empty
        counts[donor] -= 1
        counts[empty] += 1
    return owner


def _validate(
    labels: np.ndarray,
    num_clients: int,
    client_id: int,
    scheme: str,
    seed: int,
    classes_per_client: int,
    dirichlet_alpha: float,
) -> None:
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {SCHEMES}")
    if num_clients < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    if not 0 <= client_id < num_clients:
        raise ValueError(f"client_id must be in [0, {num_clients - 1}], got {client_id}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if scheme != "copy" and labels.size < num_clients:
        raise ValueError(
            f"{labels.size} examples cannot give each of {num_clients} clients its own share"
        )
    if scheme == "classes" and classes_per_client < 1:
        raise ValueError(f"classes_per_client must be >= 1, got {classes_per_client}")
    if scheme == "dirichlet" and not dirichlet_alpha > 0:
        raise ValueError(f"dirichlet_alpha must be > 0, got {dirichlet_alpha}")


def client_owners(
    labels: np.ndarray,
    num_clients: int,
    scheme: str,
    seed: int,
    classes_per_client: int = 2,
    dirichlet_alpha: float = 0.5,
) -> np.ndarray:
    """(N,) int64: the client that holds each example (-1: nobody) for a disjoint scheme.

    One pass serves all clients, which is what an in-process simulation of many virtual
    clients wants; "copy" is not disjoint and has no owner array.
    """
    labels = np.asarray(labels)
    _validate(labels, num_clients, 0, scheme, seed, classes_per_client, dirichlet_alpha)
    if scheme == "iid":
        return _owners_iid(labels.size, num_clients, seed)
    if scheme == "classes":
        return _owners_classes(labels, num_clients, classes_per_client, seed)
    if scheme == "dirichlet":
        return _owners_dirichlet(labels, num_clients, dirichlet_alpha, seed)
    raise ValueError(f"scheme {scheme!r} gives every client every example: no owners")


def partition_indices(
    labels: np.ndarray,
    num_clients: int,
    client_id: int,
    scheme: str,
    seed: int,
    classes_per_client: int = 2,
    dirichlet_alpha: float = 0.5,
) -> np.ndarray:
    """int64 indices into the training set that client `client_id` holds.

    "copy" returns a permutation of all indices, seeded by (seed, client_id); the
    disjoint schemes return the client's indices in increasing order (the order does not
    matter: common.sampling shuffles within the client's share).
    """
    labels = np.asarray(labels)
    _validate(labels, num_clients, client_id, scheme, seed, classes_per_client, dirichlet_alpha)
    if scheme == "copy":
        return _rng(seed, 0, client_id).permutation(labels.size).astype(np.int64)
    owners = client_owners(labels, num_clients, scheme, seed, classes_per_client, dirichlet_alpha)
    return np.flatnonzero(owners == client_id).astype(np.int64)


def run_shard(run: RunConfig, labels: np.ndarray, client_id: int) -> np.ndarray:
    """`partition_indices` of client `client_id` under the run's partition settings (what
    the client holds, and what the server knows it holds)."""
    return partition_indices(
        labels,
        run.num_clients,
        client_id,
        run.partition,
        run.seed,
        classes_per_client=run.classes_per_client,
        dirichlet_alpha=run.dirichlet_alpha,
    )
