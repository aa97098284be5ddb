"""Aggregators against the float64 reference, bit for bit; kernels, ties, registry, input checks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from common.aggregators.bits import count_planes, majority_packed, tie_coin
from common.aggregators.blocks import block_size
from common.algorithms import available, create_aggregator, register
from common.algorithms.signs import SignAlgorithm
from common.config import AggregatorConfig
from tests.unit.reference import ReferenceVoter


def pack(bits: npt.ArrayLike) -> np.ndarray:
    return np.packbits(np.asarray(bits, dtype=bool), axis=-1, bitorder="little")


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=n, bitorder="little").astype(bool)


def random_rounds(seed: int, n: int, num_clients: int, rounds: int, late: int = 0):
    """Yield (bits (M, N) bool, client ids, round) with structure that makes ties.

    Clients have their own crossing rates against a hidden truth, one pair of clients
    are twins (identical votes) and one client only joins after round `late`. Each
    round a random subset votes, in random order, so rows are not contiguous.
    """
    rng = np.random.default_rng(seed)
    ids = rng.choice(1000, size=num_clients, replace=False)
    rates = rng.uniform(0.05, 0.6, size=num_clients)
    for t in range(rounds):
        truth = rng.random(n) < 0.5
        bits = truth ^ (rng.random((num_clients, n)) < rates[:, None])
        bits[1] = bits[0]  # twins: equal records, equal weights, exact cancellations
        present = rng.random(num_clients) < 0.8
        present[-1] &= t >= late
        if not present.any():
            present[0] = True
        order = rng.permutation(np.flatnonzero(present))
        yield bits[order], [int(i) for i in ids[order]], t


def assert_matches_reference(config: AggregatorConfig, seed: int, n: int, m: int, rounds: int):
    agg = create_aggregator(config, n)
    ref = ReferenceVoter(n, config)
    for bits, ids, t in random_rounds(seed, n, m, rounds, late=config.warmup_rounds + 1):
        got = unpack(agg.aggregate(pack(bits), ids, t), n)
        want = ref.vote(np.where(bits, 1.0, -1.0), ids, t) > 0
        mismatch = np.flatnonzero(got != want)
        assert mismatch.size == 0, (
            f"round {t}: {mismatch.size} coordinates differ, first {mismatch[:5]}"
        )
    return ref.ties


@pytest.mark.parametrize("algorithm", ["mv", "llr"])
def test_equals_reference_bit_for_bit_including_ties(algorithm: str) -> None:
    ties = 0
    for seed in range(24):
        n = [1, 7, 67, 523, 1001][seed % 5]
        m = 2 + seed % 5  # 2..6 clients: odd and even cohorts
        config = AggregatorConfig(algorithm=algorithm, warmup_rounds=3, seed=seed)
        ties += assert_matches_reference(config, seed, n, m, rounds=9)
    assert ties > 100, f"only {ties} tied coordinates: the tie rule was barely exercised"


def test_llr_equals_reference_across_coordinate_blocks() -> None:
    config = AggregatorConfig(warmup_rounds=2, seed=5)
    assert_matches_reference(config, seed=3, n=block_size(5) + 1003, m=5, rounds=6)


@pytest.mark.parametrize("forgetting", [0.5, 0.75])
def test_llr_with_forgetting_equals_reference(forgetting: float) -> None:
    # dyadic factors over a few rounds keep the float32 counters exact
    for seed in range(6):
        config = AggregatorConfig(warmup_rounds=3, forgetting=forgetting, seed=seed)
        assert_matches_reference(config, seed, n=301, m=5, rounds=9)


def test_pooled_llr_equals_reference() -> None:
    for seed in range(8):
        config = AggregatorConfig(warmup_rounds=3, pooled=True, seed=seed)
        assert_matches_reference(config, seed, n=509, m=3 + seed % 4, rounds=10)
    config = AggregatorConfig(warmup_rounds=3, pooled=True, forgetting=0.5)
    assert_matches_reference(config, 9, n=509, m=5, rounds=10)


def test_bit_sliced_count_equals_unpacked_sum() -> None:
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 7, 8, 15, 16, 33, 100):
        words = rng.integers(0, 2**64, size=(m, 5), dtype=np.uint64)
        planes = count_planes(words)
        count = sum(unpack(p.view(np.uint8), 320).astype(int) << j for j, p in enumerate(planes))
        want = unpack(words.view(np.uint8), 320).sum(axis=0)
        assert len(planes) == m.bit_length()
        np.testing.assert_array_equal(count, want)


def test_mv_ties_follow_the_seeded_coin_whatever_else_ties() -> None:
    n, rng = 1000, np.random.default_rng(1)
    agg = create_aggregator(AggregatorConfig(algorithm="mv", seed=7), n)
    a = rng.random(n) < 0.5
    b = rng.random(n) < 0.5
    decided = unpack(agg.aggregate(pack([a, ~a]), [0, 1], 4), n)  # every coordinate tied
    coin = unpack(tie_coin(7, 4, n), n)
    np.testing.assert_array_equal(decided, coin)
    partly = unpack(agg.aggregate(pack([a, b]), [0, 1], 4), n)  # tied only where a != b
    np.testing.assert_array_equal(partly[a != b], coin[a != b])
    np.testing.assert_array_equal(partly[a == b], a[a == b])
    other_round = unpack(tie_coin(7, 5, n), n)
    assert 400 < (coin != other_round).sum() < 600  # a fresh fair coin each round


def test_padding_bits_are_ignored_and_cleared() -> None:
    n = 13
    bits = np.random.default_rng(2).random((4, n)) < 0.5
    clean = pack(bits)
    dirty = clean.copy()
    dirty[:, -1] |= 0xE0  # bits 13..15 do not exist
    for algorithm in ("mv", "llr"):
        first = create_aggregator(AggregatorConfig(algorithm=algorithm, warmup_rounds=0), n)
        second = create_aggregator(AggregatorConfig(algorithm=algorithm, warmup_rounds=0), n)
        for t in range(3):
            want = first.aggregate(clean, [0, 1, 2, 3], t)
            got = second.aggregate(dirty, [0, 1, 2, 3], t)
            np.testing.assert_array_equal(got, want)
            assert got[-1] & 0xE0 == 0


def test_majority_packed_needs_a_coin_for_even_cohorts() -> None:
    with pytest.raises(ValueError, match="tie coin"):
        majority_packed(np.zeros((2, 1), np.uint8), 8, None)


def test_registry() -> None:
    assert available() == ("fd", "fedavg", "llr", "mv", "sgd")
    assert create_aggregator(AggregatorConfig(algorithm="mv"), 10).name == "mv"
    assert create_aggregator(AggregatorConfig(algorithm="llr"), 10).name == "llr"
    unknown = "unknown algorithm 'median'; available: fd, fedavg, llr, mv, sgd"
    with pytest.raises(ValueError, match=unknown):
        create_aggregator(AggregatorConfig(algorithm="median"), 10)
    with pytest.raises(ValueError, match="already registered"):

        @register
        class Impostor(SignAlgorithm):
            name = "mv"

            def aggregator(self, num_coords, config):  # type: ignore[no-untyped-def]
                raise AssertionError("never built")

    assert available() == ("fd", "fedavg", "llr", "mv", "sgd")
    with pytest.raises(ValueError, match="at least one coordinate"):
        create_aggregator(AggregatorConfig(), 0)


@pytest.mark.parametrize("algorithm", ["mv", "llr"])
@pytest.mark.parametrize(
    ("votes", "ids", "round_index", "message"),
    [
        (np.zeros((2, 3), np.int8), [0, 1], 0, "uint8 numpy array"),
        ([[0, 0, 0]], [0], 0, "packed signs, got list"),
        (np.zeros(3, np.uint8), [0], 0, r"shape \(M, 3\) for 20 coordinates, got \(3,\)"),
        (np.zeros((2, 4), np.uint8), [0, 1], 0, r"got \(2, 4\)"),
        (np.zeros((0, 3), np.uint8), [], 0, "at least one vote"),
        (np.zeros((2, 3), np.uint8), [0], 0, "2 vote rows but 1 client ids"),
        (np.zeros((2, 3), np.uint8), [0, 0], 0, "distinct"),
        (np.zeros((2, 3), np.uint8), [0, -1], 0, ">= 0"),
        (np.zeros((2, 3), np.uint8), [0, 1.5], 0, "integers"),
        (np.zeros((2, 3), np.uint8), [0, 1], -1, "round_index must be >= 0"),
    ],
)
def test_bad_input_is_a_value_error(algorithm, votes, ids, round_index, message) -> None:  # type: ignore[no-untyped-def]
    agg = create_aggregator(AggregatorConfig(algorithm=algorithm), 20)
    with pytest.raises(ValueError, match=message):
        agg.aggregate(votes, ids, round_index)
    # the aggregator is still usable after refusing a batch
    assert agg.aggregate(np.full((1, 3), 0xFF, np.uint8), [0], 0).tolist() == [255, 255, 15]


def test_mv_is_stateless() -> None:
    agg = create_aggregator(AggregatorConfig(algorithm="mv"), 8)
    assert agg.state_dict() == {}
    assert agg.client_weight_summary() == {}
    agg.load_state_dict({})
    with pytest.raises(ValueError, match="keeps no state"):
        agg.load_state_dict({"counts": np.zeros(1)})
