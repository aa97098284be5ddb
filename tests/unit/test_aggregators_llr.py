"""IT-signSGD behaviour: estimates, warm-up, clipping, negative weights, forgetting,
pooled statistics, newcomers and checkpoints."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from common.aggregators.bits import tie_coin
from common.aggregators.weights import llr_weight
from common.algorithms import create_aggregator
from common.config import AggregatorConfig


def pack(bits: npt.ArrayLike) -> np.ndarray:
    return np.packbits(np.asarray(bits, dtype=bool), axis=-1, bitorder="little")


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=n, bitorder="little").astype(bool)


def simulate(crossing: list[float], rounds: int, config: AggregatorConfig, n: int = 3000):
    """Voters whose bits flip a random truth with known probabilities.

    Returns (estimated p per client, llr and mv bit error rates over the last 50 rounds).
    """
    rng = np.random.default_rng(0)
    p = np.array(crossing)[:, None]
    llr = create_aggregator(config, n)
    mv = create_aggregator(AggregatorConfig(algorithm="mv"), n)
    ids = list(range(len(crossing)))
    llr_errors = mv_errors = 0
    for t in range(rounds):
        truth = rng.random(n) < 0.5
        votes = pack(truth ^ (rng.random(p.shape[:1] + (n,)) < p))
        llr_wrong = (unpack(llr.aggregate(votes, ids, t), n) != truth).sum()
        mv_wrong = (unpack(mv.aggregate(votes, ids, t), n) != truth).sum()
        if t >= rounds - 50:
            llr_errors += llr_wrong
            mv_errors += mv_wrong
    state = llr.state_dict()
    per_coordinate = state["counts"] if config.pooled else state["counts"].mean(axis=1)
    estimate = per_coordinate / state["rounds"] / (n if config.pooled else 1)
    return estimate, llr_errors / (50 * n), mv_errors / (50 * n)


def test_estimates_track_known_crossing_probabilities() -> None:
    # batch mode 3 of the paper in miniature: three good voters, twelve poor ones
    truth = [0.05] * 3 + [0.45] * 12
    estimate, llr_ber, mv_ber = simulate(truth, 300, AggregatorConfig(warmup_rounds=20))
    worst = np.abs(estimate - truth).max()
    assert worst < 0.02, f"estimates {estimate.round(3)} vs {truth}: off by {worst:.3f}"
    assert llr_ber < mv_ber / 5, f"llr BER {llr_ber:.4f} not well below mv BER {mv_ber:.4f}"


def test_one_good_voter_among_fourteen_poor_ones() -> None:
    truth = [0.05] + [0.45] * 14
    # Pooled: one p per client from N coordinates a round converges within the run.
    estimate, llr_ber, mv_ber = simulate(
        truth, 300, AggregatorConfig(warmup_rounds=20, pooled=True)
    )
    worst = np.abs(estimate - truth).max()
    assert worst < 0.02, f"pooled estimates {estimate.round(3)} vs {truth}: off by {worst:.3f}"
    assert llr_ber < mv_ber / 4, f"pooled llr BER {llr_ber:.4f} vs mv BER {mv_ber:.4f}"
    # Per coordinate (the default): each p rests on one coordinate's rounds and is
    # measured against the decision, which was the noisy majority for the 100 warm-up
    # rounds, so after 300 rounds the estimates still carry that era (~0.2 for the good
    # voter, ~0.40 for the poor ones) while decoding is already clearly better.
    estimate, llr_ber, mv_ber = simulate(truth, 300, AggregatorConfig())
    assert estimate[0] < estimate[1:].min() - 0.1, f"estimates {estimate.round(3)}"
    assert llr_ber < 0.75 * mv_ber, f"llr BER {llr_ber:.4f} vs mv BER {mv_ber:.4f}"


def history(n: int, rounds: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Votes of three clients: 0 and 1 always agree, 2 always says the opposite."""
    out = []
    for _ in range(rounds):
        a = rng.random(n) < 0.5
        out.append(pack([a, a, ~a]))
    return out


def test_warmup_is_plain_majority_even_when_weights_disagree() -> None:
    n, rng = 64, np.random.default_rng(3)
    past = history(n, 4, rng)
    in_warmup = create_aggregator(AggregatorConfig(warmup_rounds=5), n)
    after = create_aggregator(AggregatorConfig(warmup_rounds=4), n)
    for t, votes in enumerate(past):
        in_warmup.aggregate(votes, [0, 1, 2], t)
        after.aggregate(votes, [0, 1, 2], t)
    x = rng.random(n) < 0.5
    votes = pack([x, ~x, x])  # majority says x; weights +10, +10, -10 say ~x
    np.testing.assert_array_equal(unpack(in_warmup.aggregate(votes, [0, 1, 2], 4), n), x)
    np.testing.assert_array_equal(unpack(after.aggregate(votes, [0, 1, 2], 4), n), ~x)


def test_weights_are_clipped_symmetrically_to_exactly_the_clip() -> None:
    n, clip = 200, 3.0
    agg = create_aggregator(AggregatorConfig(warmup_rounds=6, weight_clip=clip, seed=11), n)
    for t, votes in enumerate(history(n, 6, np.random.default_rng(4))):
        agg.aggregate(votes, [0, 1, 2], t)
    assert agg.client_weight_summary() == {0: clip, 1: clip, 2: clip}
    unclipped = llr_weight(np.array([0.0, 6.0]), 6.0, 1e-5, np.inf)
    assert unclipped[0] != -unclipped[1]  # eps alone would not make them cancel
    # +clip (client 0, p = 0) and -clip (client 2, p = 1) voting alike cancel exactly
    x = np.random.default_rng(5).random(n) < 0.5
    decided = agg.aggregate(pack([x, x]), [0, 2], 6)
    np.testing.assert_array_equal(decided, tie_coin(11, 6, n))


def test_negative_weight_flips_a_contrarian_and_helps_decoding() -> None:
    n, rng = 2000, np.random.default_rng(6)
    honest = [0.3] * 4
    bers = {}
    for name, crossing in (("honest", honest), ("with contrarian", honest + [0.9])):
        p = np.array(crossing)[:, None]
        ids = list(range(len(crossing)))
        llr = create_aggregator(AggregatorConfig(warmup_rounds=30), n)
        errors = 0
        for t in range(80):
            truth = rng.random(n) < 0.5
            decided = unpack(
                llr.aggregate(pack(truth ^ (rng.random((len(ids), n)) < p)), ids, t), n
            )
            errors += (decided != truth).sum() if t >= 60 else 0
        bers[name] = errors / (20 * n)
        if name == "with contrarian":
            alone = rng.random(n) < 0.5  # the contrarian voting alone is read backwards
            flipped = unpack(llr.aggregate(pack([alone]), [4], 80), n)
            assert (flipped != alone).mean() > 0.99
    assert bers["with contrarian"] < 0.8 * bers["honest"], f"bit error rates {bers}"


def test_forgetting_decays_counts_exactly() -> None:
    agg = create_aggregator(AggregatorConfig(warmup_rounds=10, forgetting=0.5), 3)
    a, b = np.array([1, 0, 1], bool), np.array([0, 0, 1], bool)
    # client 2 disagrees with the majority on coordinate 0 in rounds 0 and 2 only
    rounds = [[a, a, b], [a, a, a], [a, a, b]]
    for t, bits in enumerate(rounds):
        agg.aggregate(pack(bits), [0, 1, 2], t)
    state = agg.state_dict()
    np.testing.assert_array_equal(state["counts"][2], [0.5 * (0.5 * 1) + 1, 0, 0])  # 1.25
    np.testing.assert_array_equal(state["rounds"], [1.75, 1.75, 1.75])  # (1*.5 + 1)*.5 + 1
    np.testing.assert_array_equal(state["seen"], [3, 3, 3])
    assert not state["counts"][:2].any()


def test_pooled_counts_are_total_disagreements_per_client() -> None:
    n, rng = 1001, np.random.default_rng(7)
    agg = create_aggregator(AggregatorConfig(warmup_rounds=2, pooled=True), n)
    totals = np.zeros(4)
    for t in range(5):
        bits = rng.random((4, n)) < [[0.5], [0.4], [0.3], [0.2]]
        decided = unpack(agg.aggregate(pack(bits), [9, 3, 7, 1], t), n)
        totals += (bits != decided).sum(axis=1)
    state = agg.state_dict()
    np.testing.assert_array_equal(state["client_ids"], [9, 3, 7, 1])
    np.testing.assert_array_equal(state["counts"], totals)
    assert state["counts"].shape == (4,)


def test_newcomers_vote_with_the_typical_weight() -> None:
    n, rng = 100, np.random.default_rng(8)
    agg = create_aggregator(AggregatorConfig(warmup_rounds=3, seed=2), n)
    for t, votes in enumerate(history(n, 3, rng)):
        agg.aggregate(votes, [0, 1, 2], t)
    x = rng.random(n) < 0.5
    # established: 0 (+10) and 2 (-10) -> typical weight 0, so newcomer 5 adds nothing
    decided = agg.aggregate(pack([x, x, ~x]), [0, 2, 5], 3)
    np.testing.assert_array_equal(decided, tie_coin(2, 3, n))
    # only newcomers voting: plain majority, not a coin flip on every coordinate
    y = rng.random(n) < 0.5
    decided = agg.aggregate(pack([y, y, ~y]), [6, 7, 8], 4)
    np.testing.assert_array_equal(unpack(decided, n), y)
    assert agg.client_weight_summary()[6] == 10.0  # its own record: one round, p = 0


@pytest.mark.parametrize("pooled", [False, True])
def test_state_round_trip_continues_identically(pooled: bool) -> None:
    n, rng = 777, np.random.default_rng(9)
    config = AggregatorConfig(warmup_rounds=3, pooled=pooled, forgetting=0.9)
    first = create_aggregator(config, n)
    rounds = [
        (rng.random((4, n)) < 0.5, rng.choice(50, 4, replace=False).tolist()) for _ in range(12)
    ]
    for t, (bits, ids) in enumerate(rounds[:6]):
        first.aggregate(pack(bits), ids, t)
    saved = first.state_dict()
    second = create_aggregator(config, n)
    second.load_state_dict(saved)
    for key, value in second.state_dict().items():
        np.testing.assert_array_equal(value, saved[key])
    for t, (bits, ids) in enumerate(rounds[6:], start=6):
        np.testing.assert_array_equal(
            first.aggregate(pack(bits), ids, t), second.aggregate(pack(bits), ids, t)
        )
    assert first.client_weight_summary() == second.client_weight_summary()
    assert not np.array_equal(first.state_dict()["seen"], saved["seen"])  # a copy, not a view


def test_load_state_dict_rejects_mismatched_checkpoints() -> None:
    agg = create_aggregator(AggregatorConfig(forgetting=0.5), 10)
    agg.aggregate(pack(np.ones((2, 10), bool)), [0, 1], 0)
    agg.aggregate(pack(np.ones((2, 10), bool)), [0, 1], 1)
    state = agg.state_dict()
    with pytest.raises(ValueError, match="needs keys"):
        create_aggregator(AggregatorConfig(), 10).load_state_dict({"counts": state["counts"]})
    with pytest.raises(ValueError, match=r"this run needs counts \(2, 11\)"):
        create_aggregator(AggregatorConfig(forgetting=0.5), 11).load_state_dict(state)
    with pytest.raises(ValueError, match="pooled=True"):
        create_aggregator(AggregatorConfig(forgetting=0.5, pooled=True), 10).load_state_dict(state)
    state["counts"][0, 0] = 0.25
    with pytest.raises(ValueError, match="fractional"):
        create_aggregator(AggregatorConfig(), 10).load_state_dict(state)
    with pytest.raises(ValueError, match="distinct"):
        bad = dict(state, client_ids=np.array([3, 3]))
        create_aggregator(AggregatorConfig(forgetting=0.5), 10).load_state_dict(bad)
    exact = create_aggregator(AggregatorConfig(), 10)
    exact.aggregate(pack(np.ones((2, 10), bool)), [0, 1], 0)
    state = exact.state_dict()
    state["counts"][1, 3] = 2  # more disagreements than rounds: not a real record
    with pytest.raises(ValueError, match="between 0 and the rounds counted"):
        create_aggregator(AggregatorConfig(), 10).load_state_dict(state)
