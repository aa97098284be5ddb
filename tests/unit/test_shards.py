"""The partition table: the same shares as partition_indices, built once for all clients."""

from __future__ import annotations

import time

import numpy as np
import pytest

from common.config import RunConfig
from common.partitions import partition_indices, run_shard
from common.shards import Shards, client_shards

LABELS = np.random.default_rng(0).integers(0, 10, size=1000)

RUNS = [
    RunConfig(partition="copy", num_clients=4, seed=1),
    RunConfig(partition="iid", num_clients=7, seed=2),
    RunConfig(partition="iid", num_clients=30, seed=2, partition_sizes="lognormal"),
    RunConfig(partition="classes", num_clients=15, classes_per_client=2, seed=3),
    RunConfig(partition="classes", num_clients=3, classes_per_client=2, seed=3),  # 4 unheld
    RunConfig(
        partition="classes", num_clients=20, classes_per_client=3, partition_sizes="powerlaw"
    ),
    RunConfig(partition="dirichlet", num_clients=12, dirichlet_alpha=0.1, seed=4),
]


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r.partition}-{r.partition_sizes}")
def test_the_table_gives_every_client_what_partition_indices_gives(run: RunConfig) -> None:
    shards = client_shards(run, LABELS, None, "test")
    assert len(shards) == run.num_clients and shards.sizes.dtype == np.int64
    for client in range(run.num_clients):
        expected = partition_indices(
            LABELS, run.num_clients, client, run.partition, run.seed, run.classes_per_client,
            run.dirichlet_alpha, sizes=run.partition_sizes,
        )  # fmt: skip
        got = shards.indices(client)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(run_shard(run, LABELS, client), expected)
        assert shards.sizes[client] == len(expected)


def test_indices_are_the_callers_own_and_sizes_are_read_only() -> None:
    shards = client_shards(RunConfig(partition="iid", num_clients=5), LABELS, None, "test")
    first = shards.indices(2)
    first[:] = -7  # e.g. an in-place shuffle
    assert (shards.indices(2) >= 0).all()
    with pytest.raises(ValueError):
        shards.sizes[0] = 0
    with pytest.raises(ValueError, match="client_id must be in"):
        shards.indices(5)


def test_a_table_from_owners_leaves_out_what_nobody_holds() -> None:
    shards = Shards.from_owners(np.array([2, -1, 0, 2, -1, 0, 1]), num_clients=4)
    assert shards.sizes.tolist() == [2, 1, 2, 0]
    assert shards.indices(0).tolist() == [2, 5] and shards.indices(2).tolist() == [0, 3]
    assert shards.indices(3).size == 0
    with pytest.raises(ValueError, match=r"owners must lie in \[-1, 3\]"):
        Shards.from_owners(np.array([0, 4]), num_clients=4)


def test_copies_hold_everything_each_in_its_own_order() -> None:
    shards = client_shards(RunConfig(partition="copy", num_clients=3, seed=5), LABELS, None, "x")
    assert shards.sizes.tolist() == [1000, 1000, 1000]
    assert not np.array_equal(shards.indices(0), shards.indices(1))
    np.testing.assert_array_equal(np.sort(shards.indices(2)), np.arange(1000))


MNIST_LIKE = np.random.default_rng(1).integers(0, 10, size=60_000)


@pytest.mark.parametrize(
    "run",
    [
        RunConfig(partition="iid", num_clients=10_000),
        RunConfig(partition="classes", num_clients=10_000, classes_per_client=2),
        RunConfig(partition="iid", num_clients=10_000, partition_sizes="lognormal"),
        RunConfig(partition="classes", num_clients=10_000, partition_sizes="lognormal"),
    ],
    ids=["iid", "classes", "iid-lognormal", "classes-lognormal"],
)
def test_ten_thousand_clients_take_one_pass(run: RunConfig) -> None:
    start = time.perf_counter()
    shards = client_shards(run, MNIST_LIKE, None, "mnist-like")
    built = time.perf_counter() - start
    start = time.perf_counter()
    total = sum(shards.indices(client).size for client in range(run.num_clients))
    sliced = time.perf_counter() - start
    timing = f"built in {built:.2f} s, all 10,000 shares sliced in {sliced:.2f} s"
    assert total == shards.sizes.sum() == MNIST_LIKE.size, timing
    assert shards.sizes.min() >= 1, timing
    # Generous: one pass takes well under a second; 10,000 passes took minutes.
    assert built + sliced < 20, timing
