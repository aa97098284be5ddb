"""Client shares: copies, IID shards, label skew and Dirichlet splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.partitions import client_owners, partition_indices

LABELS = np.random.default_rng(0).integers(0, 10, size=1000)


def all_shares(scheme: str, num_clients: int, seed: int = 0, **kwargs: float) -> list[np.ndarray]:
    return [
        partition_indices(LABELS, num_clients, client, scheme, seed, **kwargs)  # type: ignore[arg-type]
        for client in range(num_clients)
    ]


def assert_disjoint_cover(shares: list[np.ndarray], total: int) -> None:
    joined = np.concatenate(shares)
    assert len(joined) == total, "some example is held twice or by nobody"
    np.testing.assert_array_equal(np.sort(joined), np.arange(total))


def test_copy_gives_each_client_its_own_permutation_of_everything() -> None:
    shares = all_shares("copy", 3)
    for share in shares:
        assert share.dtype == np.int64
        np.testing.assert_array_equal(np.sort(share), np.arange(len(LABELS)))
    assert not np.array_equal(shares[0], shares[1])


@given(num_clients=st.integers(1, 40), size=st.integers(40, 300), seed=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_iid_shards_are_disjoint_equal_and_cover(num_clients: int, size: int, seed: int) -> None:
    labels = np.zeros(size, dtype=np.int64)
    shares = [partition_indices(labels, num_clients, c, "iid", seed) for c in range(num_clients)]
    assert_disjoint_cover(shares, size)
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("num_clients, per_client", [(5, 2), (15, 2), (3, 4), (10, 1), (4, 3)])
def test_classes_gives_exact_label_counts_and_disjoint_shards(
    num_clients: int, per_client: int
) -> None:
    shares = all_shares("classes", num_clients, classes_per_client=per_client)
    holders = np.zeros(10, dtype=int)
    for share in shares:
        held = np.unique(LABELS[share])
        assert len(held) == per_client
        holders[held] += 1
    joined = np.concatenate(shares)
    assert len(np.unique(joined)) == len(joined)  # disjoint
    if num_clients * per_client >= 10:
        assert holders.min() >= 1  # every class is covered
        assert holders.max() - holders.min() <= 1  # ...as evenly as possible
        assert len(joined) == len(LABELS)


def test_classes_rejects_more_classes_than_exist() -> None:
    with pytest.raises(ValueError, match="exceeds the 10 classes"):
        partition_indices(LABELS, 4, 0, "classes", 0, classes_per_client=11)


@given(
    num_clients=st.integers(1, 30),
    alpha=st.sampled_from([0.01, 0.1, 0.5, 5.0]),
    seed=st.integers(0, 2**31),
)
@settings(max_examples=30, deadline=None)
def test_dirichlet_is_disjoint_covering_and_nobody_is_empty(
    num_clients: int, alpha: float, seed: int
) -> None:
    shares = all_shares("dirichlet", num_clients, seed, dirichlet_alpha=alpha)
    assert_disjoint_cover(shares, len(LABELS))
    assert min(len(s) for s in shares) >= 1


def test_dirichlet_is_deterministic_and_skewed() -> None:
    first = all_shares("dirichlet", 8, 5, dirichlet_alpha=0.1)
    second = all_shares("dirichlet", 8, 5, dirichlet_alpha=0.1)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # With alpha = 0.1 a typical client sees only a few classes in any real number.
    dominant = [np.bincount(LABELS[s], minlength=10).max() / len(s) for s in first]
    assert np.median(dominant) > 0.4


def test_owner_array_agrees_with_per_client_indices() -> None:
    owners = client_owners(LABELS, 6, "dirichlet", seed=2)
    for client in range(6):
        np.testing.assert_array_equal(
            np.flatnonzero(owners == client), partition_indices(LABELS, 6, client, "dirichlet", 2)
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"client_id": 3}, "client_id must be in"),
        ({"client_id": -1}, "client_id must be in"),
        ({"scheme": "shards"}, "unknown partition scheme"),
        ({"num_clients": 0, "client_id": 0}, "num_clients must be >= 1"),
        ({"scheme": "dirichlet", "dirichlet_alpha": 0.0}, "dirichlet_alpha must be > 0"),
        ({"num_clients": 2000, "client_id": 0}, "cannot give each"),
    ],
)
def test_invalid_arguments_are_value_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"num_clients": 3, "client_id": 0, "scheme": "iid", "seed": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        partition_indices(LABELS, **args)  # type: ignore[arg-type]
