"""Stateless epoch-based minibatches: the same round always gives the same batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.sampling import epoch_permutation, minibatch_indices


def stream(num_samples: int, seed: int, client_id: int, epochs: int) -> np.ndarray:
    """The definition, spelled out: perm_0 ++ perm_1 ++ ..."""
    return np.concatenate(
        [
            np.random.default_rng([seed, client_id, e]).permutation(num_samples)
            for e in range(epochs)
        ]
    )


def test_small_case_by_hand() -> None:
    # n = 5, B = 3: round 0 is perm_0[0:3]; round 1 is perm_0[3:5] ++ perm_1[0:1];
    # round 3 is stream positions 9..11 = perm_1[4] ++ perm_2[0:2].
    perm = [np.random.default_rng([11, 2, e]).permutation(5) for e in range(3)]
    np.testing.assert_array_equal(minibatch_indices(5, 3, 0, 11, 2), perm[0][0:3])
    np.testing.assert_array_equal(
        minibatch_indices(5, 3, 1, 11, 2), np.concatenate([perm[0][3:5], perm[1][0:1]])
    )
    np.testing.assert_array_equal(
        minibatch_indices(5, 3, 3, 11, 2), np.concatenate([perm[1][4:5], perm[2][0:2]])
    )


def test_stateless_same_arguments_same_batch_in_any_order() -> None:
    forward = [minibatch_indices(100, 7, t, 0, 1) for t in range(40)]
    epoch_permutation.cache_clear()  # a "restarted client" with a cold cache
    backward = [minibatch_indices(100, 7, t, 0, 1) for t in reversed(range(40))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward, strict=True))


def test_clients_and_seeds_draw_different_batches() -> None:
    base = minibatch_indices(1000, 32, 0, seed=0, client_id=0)
    assert not np.array_equal(base, minibatch_indices(1000, 32, 0, seed=0, client_id=1))
    assert not np.array_equal(base, minibatch_indices(1000, 32, 0, seed=1, client_id=0))


@given(
    num_samples=st.integers(1, 60),
    batch_size=st.integers(1, 150),
    round_index=st.integers(0, 50),
    seed=st.integers(0, 1000),
)
@settings(max_examples=100, deadline=None)
def test_batches_are_consecutive_slices_of_the_epoch_stream(
    num_samples: int, batch_size: int, round_index: int, seed: int
) -> None:
    batch = minibatch_indices(num_samples, batch_size, round_index, seed, 3)
    start = round_index * batch_size
    epochs = (start + batch_size - 1) // num_samples + 1
    expected = stream(num_samples, seed, 3, epochs)[start : start + batch_size]
    assert batch.dtype == np.int64
    np.testing.assert_array_equal(batch, expected)


def test_one_epoch_of_rounds_visits_every_example_once() -> None:
    rounds = [minibatch_indices(60, 6, t, 4, 0) for t in range(10)]
    np.testing.assert_array_equal(np.sort(np.concatenate(rounds)), np.arange(60))


def test_batch_larger_than_the_data_spans_several_epochs() -> None:
    batch = minibatch_indices(4, 10, 0, 0, 0)  # perm_0 ++ perm_1 ++ perm_2[0:2]
    assert len(batch) == 10
    for epoch in range(2):
        np.testing.assert_array_equal(np.sort(batch[4 * epoch : 4 * epoch + 4]), np.arange(4))


def test_returned_batch_is_writable_and_does_not_alias_the_cache() -> None:
    batch = minibatch_indices(10, 10, 0, 0, 0)
    batch[:] = -1
    assert minibatch_indices(10, 10, 0, 0, 0).min() == 0


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 4, 0, 0, 0), "num_samples"),
        ((10, 0, 0, 0, 0), "batch_size"),
        ((10, 4, -1, 0, 0), "round_index"),
        ((10, 4, 0, -1, 0), "seed and client_id"),
    ],
)
def test_invalid_arguments(args: tuple[int, int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        minibatch_indices(*args)
