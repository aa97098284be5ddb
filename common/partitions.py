"""Which training examples each client holds.

Every client computes its own share independently from (labels, num_clients, scheme,
seed): nothing is exchanged, so the whole assignment is a pure function of those
arguments and any client, restarted or simulated, gets the same indices.

Schemes:
- "copy": every client holds the whole training set in its own shuffled order (the
  paper's setting).
- "iid": disjoint shards of one seeded permutation, equal-size unless sized (below).
- "classes": label skew; each client holds `classes_per_client` classes, spread so every
  class is held by as equal a number of clients as possible, and a class's examples
  are split disjointly among the clients that hold it.
- "dirichlet": for each class, proportions across clients drawn from Dir(alpha)
  (the usual non-IID recipe); every client ends up with at least one example.

Sizes (common/sizes.py): "equal" (as above), or skewed "lognormal" / "powerlaw" sizes
drawn once per run (one draw for iid and classes alike, given the examples they
split). With "iid" they are the shard sizes; with "classes" they are each client's
target, and a class's examples go to its holders in proportion to their targets (at
least one each). "copy" and "dirichlet" take only "equal": every client holds
everything, or Dirichlet draws the sizes itself.

All clients' owners come from one O(examples) pass; common.shards keeps them as a
table (and caches it on disk) for runs of thousands of virtual clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from common.sizes import SIZE_DISTRIBUTIONS, apportion, client_sizes, equal_sizes

if TYPE_CHECKING:  # the annotation only: partitions stays free of the config module
    from common.config import RunConfig

SCHEMES = ("copy", "iid", "classes", "dirichlet")
SIZED_SCHEMES = ("iid", "classes")  # the schemes that take skewed sizes

# A purpose tag in every seed: numpy's SeedSequence ignores trailing zeros, so
# default_rng([seed, client_id]) would otherwise be the very stream that
# common.sampling uses for epoch 0 (default_rng([seed, client_id, 0])).
# Keys after the tag: () iid permutation, (0, client) copy order, (1,) class assignment,
# (2, class) class shuffle, (3,) dirichlet, (4,) skewed sizes.
_TAG = 0x50415254  # "PART"


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TAG, *keys])


def copy_indices(num_samples: int, client_id: int, seed: int) -> np.ndarray:
    """(num_samples,) int64: client `client_id`'s own shuffled order of everything."""
    return _rng(seed, 0, client_id).permutation(num_samples).astype(np.int64)


def _owners_iid(num_samples: int, sizes: np.ndarray, seed: int) -> np.ndarray:
    # consecutive runs of one permutation: equal sizes give np.array_split's shards
    owner = np.empty(num_samples, dtype=np.int64)
    owner[_rng(seed).permutation(num_samples)] = np.repeat(np.arange(sizes.size), sizes)
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
    labels: np.ndarray,
    num_clients: int,
    classes_per_client: int,
    seed: int,
    sizes: str,
    sigma: float,
    alpha: float,
) -> np.ndarray:
    classes = np.unique(labels)
    if classes_per_client > len(classes):
        raise ValueError(
            f"classes_per_client={classes_per_client} exceeds the {len(classes)} classes "
            "in the labels"
        )
    held = np.stack(class_assignment(classes, num_clients, classes_per_client, seed))
    holders = [np.flatnonzero((held == cls).any(axis=1)) for cls in classes]  # increasing
    members = [np.flatnonzero(labels == cls) for cls in classes]
    for cls, who, mine in zip(classes, holders, members, strict=True):
        if who.size and mine.size < who.size:
            raise ValueError(
                f"class {cls} has {mine.size} examples but {who.size} clients hold it; "
                "use fewer clients or a larger classes_per_client"
            )
    # each client's target size; "equal" keeps the per-class equal split
    distributed = sum(mine.size for who, mine in zip(holders, members, strict=True) if who.size)
    targets = client_sizes(distributed, num_clients, sizes, _rng(seed, 4), sigma, alpha)
    owner = np.full(len(labels), -1, dtype=np.int64)  # -1: held by no client
    for cls, who, mine in zip(classes, holders, members, strict=True):
        if not who.size:
            continue
        shuffled = _rng(seed, 2, int(cls)).permutation(mine)
        if sizes == "equal":
            counts = equal_sizes(mine.size, who.size)
        else:  # at least one each, the rest in proportion to the holders' targets
            counts = 1 + apportion(mine.size - who.size, targets[who].astype(np.float64))
        owner[shuffled] = np.repeat(who, counts)
    return owner


def _owners_dirichlet(labels: np.ndarray, num_clients: int, alpha: float, seed: int) -> np.ndarray:
    rng = _rng(seed, 3)
    owner = np.empty(len(labels), dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        counts = np.diff(cuts, prepend=0, append=len(members))  # np.split's part sizes
        owner[members] = np.repeat(np.arange(num_clients), counts)
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
    sizes: str,
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
    if sizes not in SIZE_DISTRIBUTIONS:
        raise ValueError(f"unknown sizes {sizes!r}; choose one of {SIZE_DISTRIBUTIONS}")
    if sizes != "equal" and scheme not in SIZED_SCHEMES:
        raise ValueError(f"sizes {sizes!r} need scheme iid or classes, not {scheme!r}")


def client_owners(
    labels: np.ndarray,
    num_clients: int,
    scheme: str,
    seed: int,
    classes_per_client: int = 2,
    dirichlet_alpha: float = 0.5,
    *,
    sizes: str = "equal",
    size_sigma: float = 1.0,
    size_alpha: float = 1.5,
) -> np.ndarray:
    """(N,) int64: the client that holds each example (-1: nobody) for a disjoint scheme.

    One pass serves all clients, which is what an in-process simulation of many virtual
    clients wants; "copy" is not disjoint and has no owner array. `sizes` (with its
    `size_sigma` or `size_alpha`) skews how many examples each client holds.
    """
    labels = np.asarray(labels)
    _validate(labels, num_clients, 0, scheme, seed, classes_per_client, dirichlet_alpha, sizes)
    if scheme == "iid":
        counts = client_sizes(
            labels.size, num_clients, sizes, _rng(seed, 4), size_sigma, size_alpha
        )
        return _owners_iid(labels.size, counts, seed)
    if scheme == "classes":
        return _owners_classes(
            labels, num_clients, classes_per_client, seed, sizes, size_sigma, size_alpha
        )
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
    *,
    sizes: str = "equal",
    size_sigma: float = 1.0,
    size_alpha: float = 1.5,
) -> np.ndarray:
    """int64 indices into the training set that client `client_id` holds.

    "copy" returns a permutation of all indices, seeded by (seed, client_id); the
    disjoint schemes return the client's indices in increasing order (the order does not
    matter: common.sampling shuffles within the client's share). One client's share
    costs a pass over all examples: for many clients build common.shards' table once.
    """
    labels = np.asarray(labels)
    _validate(
        labels, num_clients, client_id, scheme, seed, classes_per_client, dirichlet_alpha, sizes
    )
    if scheme == "copy":
        return copy_indices(labels.size, client_id, seed)
    owners = client_owners(
        labels,
        num_clients,
        scheme,
        seed,
        classes_per_client,
        dirichlet_alpha,
        sizes=sizes,
        size_sigma=size_sigma,
        size_alpha=size_alpha,
    )
    return np.flatnonzero(owners == client_id).astype(np.int64)


def run_owners(run: RunConfig, labels: np.ndarray) -> np.ndarray:
    """`client_owners` under the run's partition settings (a disjoint scheme's)."""
    return client_owners(
        labels,
        run.num_clients,
        run.partition,
        run.seed,
        run.classes_per_client,
        run.dirichlet_alpha,
        sizes=run.partition_sizes,
        size_sigma=run.size_sigma,
        size_alpha=run.size_alpha,
    )


def run_shard(run: RunConfig, labels: np.ndarray, client_id: int) -> np.ndarray:
    """`partition_indices` of client `client_id` under the run's partition settings (what
    the client holds, and what the server knows it holds): one pass over the labels,
    right for one networked client; a simulation of many wants common.shards."""
    return partition_indices(
        labels,
        run.num_clients,
        client_id,
        run.partition,
        run.seed,
        run.classes_per_client,
        run.dirichlet_alpha,
        sizes=run.partition_sizes,
        size_sigma=run.size_sigma,
        size_alpha=run.size_alpha,
    )
