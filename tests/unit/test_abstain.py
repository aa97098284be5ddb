"""Abstaining zeros (--zeros abstain): ternary votes and decisions against the float64
reference of the authors' rule (tests/unit/reference.py), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from common.aggregators.blocks import block_size
from common.algorithms import create_aggregator
from common.config import AggregatorConfig
from common.ternary import defect
from tests.unit.reference import ReferenceVoter


def ternary(values: np.ndarray) -> np.ndarray:
    """(..., N) values in {-1, 0, +1} -> (..., 2B) rows: [sign plane | nonzero plane]."""
    signs = np.packbits(values > 0, axis=-1, bitorder="little")
    nonzero = np.packbits(values != 0, axis=-1, bitorder="little")
    return np.concatenate([signs, nonzero], axis=-1)


def values_of(row: np.ndarray, n: int) -> np.ndarray:
    b = -(-n // 8)
    signs = np.unpackbits(row[:b], count=n, bitorder="little").astype(np.int8)
    nonzero = np.unpackbits(row[b:], count=n, bitorder="little").astype(np.int8)
    return (2 * signs - 1) * nonzero


def ternary_rounds(seed: int, n: int, num_clients: int, rounds: int, late: int):
    """Yield ((M, N) votes in {-1, 0, +1}, ids, round): clients cross a hidden truth at
    their own rates and abstain at their own rates (some often, like small batches);
    a block of coordinates where everybody abstains; twins (identical votes, so
    weighted sums cancel exactly); one client that joins late; random order."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(1000, size=num_clients, replace=False)
    rates = rng.uniform(0.05, 0.6, size=num_clients)
    abstain = rng.uniform(0.0, 0.5, size=num_clients)
    for t in range(rounds):
        truth = np.where(rng.random(n) < 0.5, 1, -1)
        flip = rng.random((num_clients, n)) < rates[:, None]
        votes = np.where(flip, -truth, truth)
        votes[rng.random((num_clients, n)) < abstain[:, None]] = 0
        votes[:, : max(1, n // 10)] = 0  # nobody votes here: U = 0
        votes[1] = votes[0]
        if num_clients > 3:  # an opposed pair: their votes cancel wherever both vote
            votes[3] = -votes[2]
        present = rng.random(num_clients) < 0.8
        present[-1] &= t >= late
        if not present.any():
            present[0] = True
        order = rng.permutation(np.flatnonzero(present))
        yield votes[order], [int(i) for i in ids[order]], t


def assert_matches(config: AggregatorConfig, seed: int, n: int, m: int, rounds: int) -> int:
    agg = create_aggregator(config, n)
    ref = ReferenceVoter(n, config)
    zeros = 0
    for votes, ids, t in ternary_rounds(seed, n, m, rounds, late=config.warmup_rounds + 1):
        decision = agg.aggregate(ternary(votes), ids, t)
        assert defect(decision, n) is None  # canonical: no sign on a 0, clean padding
        got = values_of(decision, n)
        want = ref.vote(votes.astype(np.float64), ids, t)
        mismatch = np.flatnonzero(got != want)
        assert mismatch.size == 0, f"round {t}: {mismatch.size} coordinates differ"
        zeros += int((want == 0).sum())
    if config.algorithm == "llr":  # the counters too, not just the decisions
        state = agg.state_dict()
        for client, counts in zip(state["client_ids"], state["counts"], strict=True):
            np.testing.assert_array_equal(counts, ref.records[int(client)].disagreements)
    return zeros


@pytest.mark.parametrize("algorithm", ["mv", "llr"])
def test_ternary_vote_equals_reference_bit_for_bit(algorithm: str) -> None:
    decided_zero = 0
    for seed in range(16):
        n = [1, 9, 67, 523, 1001][seed % 5]
        m = 2 + seed % 5
        config = AggregatorConfig(algorithm=algorithm, warmup_rounds=3, seed=seed, zeros="abstain")
        decided_zero += assert_matches(config, seed, n, m, rounds=9)
    assert decided_zero > 300, f"only {decided_zero} U = 0 decisions: ties barely exercised"


def test_pooled_llr_with_abstentions_equals_reference() -> None:
    for seed in range(6):
        config = AggregatorConfig(warmup_rounds=2, seed=seed, zeros="abstain", pooled=True)
        assert_matches(config, seed, n=301, m=5, rounds=7)


def test_abstention_across_coordinate_blocks() -> None:
    config = AggregatorConfig(warmup_rounds=2, seed=1, zeros="abstain")
    assert_matches(config, seed=4, n=block_size(6) + 1003, m=6, rounds=5)


def test_abstention_counts_against_a_client_unless_everyone_abstains() -> None:
    # authors' count: an abstention disagrees with U = +-1 and agrees with U = 0
    agg = create_aggregator(AggregatorConfig(warmup_rounds=5, zeros="abstain"), 3)
    votes = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [-1, 0, -1]])
    decision = values_of(agg.aggregate(ternary(votes), [0, 1, 2, 3], 0), 3)
    assert decision.tolist() == [1, 0, 0]  # 2 up vs 1 down; nobody; 1 up vs 1 down
    counts = agg.state_dict()["counts"]
    assert counts.tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 1], [1, 0, 1]]


def test_a_noisy_row_cannot_sneak_a_sign_into_an_abstention() -> None:
    # a sign bit where the nonzero bit is 0 is ignored: the row is made canonical
    agg = create_aggregator(AggregatorConfig(algorithm="mv", zeros="abstain"), 8)
    row = ternary(np.array([[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, -1]]))
    row[0, 0] = 0xFF  # every sign bit set, no coordinate voting
    decision = values_of(agg.aggregate(row, [0, 1], 0), 8)
    assert decision.tolist() == [0, 0, 0, 0, 0, 0, 0, -1]


def test_coin_mode_rejects_ternary_rows() -> None:
    agg = create_aggregator(AggregatorConfig(algorithm="mv"), 8)
    with pytest.raises(ValueError, match="shape"):
        agg.aggregate(ternary(np.zeros((2, 8), np.int8)), [0, 1], 0)


def test_skipped_abstentions_equal_reference_bit_for_bit() -> None:
    """--abstentions skip: only rounds a client voted in (and U != 0) count."""
    decided_zero = 0
    for seed in range(10):
        n = [1, 9, 67, 301][seed % 4]
        config = AggregatorConfig(warmup_rounds=2, seed=seed, zeros="abstain", abstentions="skip")
        decided_zero += assert_matches(config, seed, n, m=2 + seed % 5, rounds=9)
    assert decided_zero > 100


def test_skipped_abstentions_do_not_count_against_a_client() -> None:
    agg = create_aggregator(
        AggregatorConfig(warmup_rounds=5, zeros="abstain", abstentions="skip"), 3
    )
    votes = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [-1, 0, -1]])
    agg.aggregate(ternary(votes), [0, 1, 2, 3], 0)  # decides [1, 0, 0]
    state = agg.state_dict()
    assert state["counts"].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]]
    assert state["voted"].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0]]
    restored = create_aggregator(agg.config, 3)
    restored.load_state_dict(state)
    assert restored.state_dict()["voted"].tolist() == state["voted"].tolist()


def test_skip_needs_abstaining_zeros_and_plain_counts() -> None:
    with pytest.raises(ValueError, match="--abstentions skip needs --zeros abstain"):
        AggregatorConfig(abstentions="skip")
    with pytest.raises(ValueError, match="not with --pooled or --forgetting"):
        AggregatorConfig(zeros="abstain", abstentions="skip", pooled=True)
