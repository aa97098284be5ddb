"""Skewed client sizes: the draws' shapes, exact sums, and how they combine with schemes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import ConfigError, RunConfig
from common.partitions import client_owners
from common.sizes import apportion, client_sizes

LABELS = np.random.default_rng(0).integers(0, 10, size=1000)


@given(
    total=st.integers(0, 10**6),
    weights=st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=50),
)
@settings(max_examples=100, deadline=None)
def test_apportion_sums_exactly_and_stays_within_one_of_the_quota(
    total: int, weights: list[float]
) -> None:
    counts = apportion(total, np.array(weights))
    quota = total * np.array(weights) / np.sum(weights)
    assert counts.dtype == np.int64 and counts.sum() == total
    assert (counts >= 0).all() and np.abs(counts - quota).max() < 1 + 1e-6


@pytest.mark.parametrize("distribution", ["equal", "lognormal", "powerlaw"])
@given(num_clients=st.integers(1, 300), extra=st.integers(0, 5000), seed=st.integers(0, 2**31))
@settings(max_examples=30, deadline=None)
def test_sizes_give_everyone_one_and_sum_to_the_total(
    distribution: str, num_clients: int, extra: int, seed: int
) -> None:
    total = num_clients + extra
    sizes = client_sizes(total, num_clients, distribution, np.random.default_rng(seed), 2.0, 0.8)
    assert sizes.shape == (num_clients,) and sizes.sum() == total and sizes.min() >= 1
    again = client_sizes(total, num_clients, distribution, np.random.default_rng(seed), 2.0, 0.8)
    np.testing.assert_array_equal(sizes, again)


def test_equal_sizes_are_array_split_sizes() -> None:
    sizes = client_sizes(1003, 7, "equal", np.random.default_rng(0))
    assert sizes.tolist() == [len(part) for part in np.array_split(np.arange(1003), 7)]


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5])
def test_lognormal_sizes_have_log_std_sigma(sigma: float) -> None:
    # Many examples per client, so rounding and the one-each floor do not bend the shape.
    sizes = client_sizes(10**9, 5000, "lognormal", np.random.default_rng(1), sigma=sigma)
    log_std = np.log(sizes).std()
    assert abs(log_std - sigma) < 0.05 * sigma, f"std(log size) {log_std:.3f} for sigma {sigma}"


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0])
def test_powerlaw_sizes_have_tail_exponent_alpha(alpha: float) -> None:
    sizes = client_sizes(10**9, 5000, "powerlaw", np.random.default_rng(2), alpha=alpha)
    # Pareto maximum-likelihood estimate of the exponent from the smallest size.
    estimate = (sizes.size - 1) / np.log(sizes / sizes.min()).sum()
    assert abs(estimate - alpha) < 0.1 * alpha, f"estimated alpha {estimate:.3f} for {alpha}"
    assert np.median(sizes) < sizes.mean()  # skewed to the right: a few large clients


def _digest(owners: np.ndarray) -> str:
    return hashlib.sha256(owners.astype("<i8").tobytes()).hexdigest()[:16]


# Owners of LABELS with seed 3, computed by the partition code before sizes existed: the
# "equal" default must keep every earlier run's shards bit for bit.
BEFORE_SIZES = [
    ("iid", 7, {}, "2d9a7e9b12158e45"),
    ("iid", 40, {}, "88fd252e519ea288"),
    ("classes", 7, {"classes_per_client": 2}, "c25448a7c15d9c31"),
    ("classes", 40, {"classes_per_client": 2}, "d85b199b8cf637a3"),
    ("classes", 7, {"classes_per_client": 3}, "8e283f682c37d3c5"),
    ("classes", 40, {"classes_per_client": 3}, "fc1b00da9eacdc63"),
    ("dirichlet", 7, {"dirichlet_alpha": 0.1}, "6620ac99c3bb1fe1"),
    ("dirichlet", 40, {"dirichlet_alpha": 0.1}, "4e536fbb011a571e"),
]


@pytest.mark.parametrize("scheme, num_clients, kwargs, digest", BEFORE_SIZES)
def test_equal_sizes_keep_the_owners_of_earlier_runs(
    scheme: str, num_clients: int, kwargs: dict[str, float], digest: str
) -> None:
    owners = client_owners(LABELS, num_clients, scheme, 3, **kwargs, sizes="equal")  # type: ignore[arg-type]
    assert _digest(owners) == digest


def test_iid_shards_take_the_drawn_sizes() -> None:
    labels = np.zeros(60_000, dtype=np.int64)
    owners = client_owners(labels, 500, "iid", 4, sizes="lognormal", size_sigma=1.0)
    sizes = np.bincount(owners, minlength=500)
    assert sizes.sum() == labels.size and sizes.min() >= 1  # disjoint, covering, nobody empty
    assert 0.85 < np.log(sizes).std() < 1.15
    again = client_owners(labels, 500, "iid", 4, sizes="lognormal", size_sigma=1.0)
    other = client_owners(labels, 500, "iid", 5, sizes="lognormal", size_sigma=1.0)
    assert np.array_equal(owners, again) and not np.array_equal(owners, other)


@pytest.mark.parametrize("distribution", ["lognormal", "powerlaw"])
def test_classes_split_each_class_in_proportion_to_the_targets(distribution: str) -> None:
    labels = np.random.default_rng(7).integers(0, 10, size=20_000)
    args = (labels, 50, "classes", 9)
    owners = client_owners(*args, classes_per_client=2, sizes=distribution)
    # Every class is held, so the targets are the very sizes an iid split draws.
    targets = np.bincount(client_owners(labels, 50, "iid", 9, sizes=distribution), minlength=50)
    plain = client_owners(*args, classes_per_client=2)  # the same classes, equal shares
    for client in range(50):
        mine = np.unique(labels[owners == client])
        np.testing.assert_array_equal(mine, np.unique(labels[plain == client]))
        assert mine.size == 2
    for cls in range(10):
        holders = np.unique(owners[labels == cls])
        counts = np.bincount(owners[labels == cls], minlength=50)[holders]
        spare = (labels == cls).sum() - holders.size
        quota = 1 + spare * targets[holders] / targets[holders].sum()
        assert np.abs(counts - quota).max() < 1 + 1e-9, f"class {cls}"
    sizes = np.bincount(owners[owners >= 0], minlength=50)
    assert sizes.sum() == labels.size and sizes.min() >= 2


def test_classes_with_sizes_leave_unheld_classes_unowned() -> None:
    owners = client_owners(LABELS, 3, "classes", 1, classes_per_client=2, sizes="lognormal")
    held = np.unique(LABELS[owners >= 0])
    assert held.size == 6 and (owners[np.isin(LABELS, held)] >= 0).all()


@pytest.mark.parametrize("scheme", ["copy", "dirichlet"])
def test_sizes_are_refused_where_the_scheme_sets_them(scheme: str) -> None:
    with pytest.raises(ConfigError, match="--partition-sizes lognormal needs --partition iid"):
        RunConfig(partition=scheme, partition_sizes="lognormal")
    if scheme == "dirichlet":
        with pytest.raises(ValueError, match="need scheme iid or classes"):
            client_owners(LABELS, 4, scheme, 0, sizes="powerlaw")


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"partition_sizes": "zipf"}, "--partition-sizes must be one of"),
        ({"size_sigma": 0.0}, "--size-sigma must be > 0"),
        ({"size_alpha": -1.0}, "--size-alpha must be > 0"),
    ],
)
def test_invalid_size_settings_name_their_flag(kwargs: dict[str, object], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        RunConfig(partition="iid", **kwargs)  # type: ignore[arg-type]
