"""signSGD-FD (common/aggregators/fd.py) against a plain float64 reference written from
the rule: round 0 plain majority, pooled weights in the warm-up, per-coordinate ones
after it, clipped to +-M, the final layer by plain majority; and the facts one by one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pytest

from common.aggregators.blocks import block_size
from common.aggregators.fd import FDVote, final_layer_start
from common.aggregators.weights import QUANTUM
from common.algorithms import create_aggregator, get_algorithm
from common.codecs import Layout
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.ternary import defect
from tests.unit.reference import ReferenceVoter
from tests.unit.test_abstain import ternary, values_of  # [sign | nonzero] rows


def pack(bits: npt.ArrayLike) -> np.ndarray:
    return np.packbits(np.asarray(bits, dtype=bool), axis=-1, bitorder="little")


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=n, bitorder="little").astype(bool)


def fd(config: AggregatorConfig, n: int, layout: Layout = ()) -> FDVote:
    agg = create_aggregator(replace(config, algorithm="fd"), n, layout)
    assert isinstance(agg, FDVote)
    return agg


def grid(w: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(w) / QUANTUM) * QUANTUM


@dataclass
class FDReference:
    """The rule as the paper and the authors' calc_weight state it, in the authors'
    terms: agreement counts per client and coordinate, a dict of records, +-1 floats."""

    num_coords: int
    config: AggregatorConfig
    final_start: int
    agree: dict[int, np.ndarray] = field(default_factory=dict)  # (N,) agreements
    voted: dict[int, int] = field(default_factory=dict)  # rounds voted
    phases: list[str] = field(default_factory=list)  # per round: what decided it
    ties: int = 0  # coordinates whose sum was exactly 0

    def weight(self, client: int, num_voters: int) -> np.ndarray | None:
        """(N,) the client's weight, None without a record."""
        c, r = self.config, self.voted.get(client, 0)
        if r == 0:
            return None
        a = self.agree[client]
        if r < max(c.warmup_rounds, 1):  # pooled: total agreements / N / r, one weight
            right = np.full(self.num_coords, a.sum() / self.num_coords / r)
        else:
            right = a / (r + c.eps)
        w = np.log((right + c.eps) / (1 - right + c.eps))
        return grid(np.clip(w, -num_voters, num_voters))

    def vote(self, signs: np.ndarray, ids: list[int], round_index: int) -> np.ndarray:
        """signs: (M, N) +-1 (0: abstain) floats. The decision; updates the records."""
        weights = [self.weight(client, len(ids)) for client in ids]
        known = [w for w in weights if w is not None]
        if not known:
            self.phases.append("majority")
            total = signs.sum(axis=0)
        else:
            typical = grid(sum(known) / len(known))
            total = sum(
                (typical if w is None else w) * y for w, y in zip(weights, signs, strict=True)
            )
            self.phases.append(
                "per-coordinate"
                if any(self.voted.get(i, 0) >= max(self.config.warmup_rounds, 1) for i in ids)
                else "pooled"
            )
        total[self.final_start :] = signs[:, self.final_start :].sum(axis=0)
        decision = np.sign(total)
        self.ties += int((total == 0).sum())
        if self.config.zeros == "coin":
            tied = total == 0
            decision[tied] = ReferenceVoter(self.num_coords, self.config).coin(round_index)[tied]
        for client, y in zip(ids, signs, strict=True):
            self.agree[client] = self.agree.get(client, 0) + (y == decision)
            self.voted[client] = self.voted.get(client, 0) + 1
        return decision


def noisy_rounds(seed: int, n: int, num_clients: int, rounds: int, abstain: bool):
    """Yield ((M, N) votes, ids, round): clients cross a hidden truth at their own rates,
    two of them send inverted signs, twins (identical records), a late joiner, clients
    who miss rounds (phases part ways), sometimes an even number of voters (ties)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(1000, size=num_clients, replace=False)
    rates = rng.uniform(0.05, 0.45, size=num_clients)
    for t in range(rounds):
        truth = np.where(rng.random(n) < 0.5, 1, -1)
        votes = np.where(rng.random((num_clients, n)) < rates[:, None], -truth, truth)
        votes[:2] *= -1  # sign flippers
        votes[3] = votes[2]
        if abstain:
            votes[rng.random((num_clients, n)) < 0.2] = 0
        present = rng.random(num_clients) < 0.85
        present[-1] &= t >= 3
        present[2] = True
        order = rng.permutation(np.flatnonzero(present))
        yield votes[order], [int(i) for i in ids[order]], t


LAYOUTS: list[tuple[int, Layout]] = [
    (203, ((10, 15), (1, 10), (4, 10), (1, 3))),  # final layer: the last 43 coordinates
    (203, ()),  # no layout: no final layer
    (7, ((7, 1),)),  # a single block: all of it is "the final layer"
]


@pytest.mark.parametrize(("n", "layout"), LAYOUTS)
@pytest.mark.parametrize("zeros", ["coin", "abstain"])
def test_decisions_equal_the_reference(n: int, layout: Layout, zeros: str) -> None:
    phases: set[str] = set()
    ties = 0
    for seed in range(4):
        config = AggregatorConfig(warmup_rounds=3, seed=seed, zeros=zeros)
        agg = fd(config, n, layout)
        ref = FDReference(n, config, final_layer_start(layout, n))
        for votes, ids, t in noisy_rounds(seed, n, 6 + seed % 2, 8, zeros == "abstain"):
            if zeros == "abstain":
                decision = agg.aggregate(ternary(votes), ids, t)
                assert defect(decision, n) is None
                got = values_of(decision, n)
            else:
                got = np.where(unpack(agg.aggregate(pack(votes > 0), ids, t), n), 1, -1)
            want = ref.vote(votes.astype(np.float64), ids, t)
            mismatch = np.flatnonzero(got != want)
            assert mismatch.size == 0, f"seed {seed} round {t}: {mismatch.size} differ"
        phases.update(ref.phases)
        ties += ref.ties
        state = agg.state_dict()  # disagreements = rounds voted - agreements
        for client, counts, rounds in zip(
            state["client_ids"], state["counts"], state["seen"], strict=True
        ):
            np.testing.assert_array_equal(counts, rounds - ref.agree[int(client)])
    assert phases == {"majority", "pooled", "per-coordinate"}
    assert ties > 0


def test_the_final_layer_crosses_coordinate_blocks() -> None:
    n = 2 * block_size(7) + 777  # three blocks; the final layer starts inside the second
    layout = ((1, block_size(7) + 100), (3, 100), (1, block_size(7) + 377))
    config = AggregatorConfig(warmup_rounds=2, seed=5)
    agg = fd(config, n, layout)
    ref = FDReference(n, config, final_layer_start(layout, n))
    assert block_size(7) < ref.final_start < 2 * block_size(7)
    for votes, ids, t in noisy_rounds(9, n, 7, 5, abstain=False):
        got = np.where(unpack(agg.aggregate(pack(votes > 0), ids, t), n), 1, -1)
        np.testing.assert_array_equal(got, ref.vote(votes.astype(np.float64), ids, t))


def test_round_zero_and_the_final_layer_are_mv_decisions() -> None:
    n, rng = 1000, np.random.default_rng(1)
    layout = ((8, 100), (1, 100), (5, 10), (1, 50))  # final layer: the last 100
    agg = fd(AggregatorConfig(warmup_rounds=2, seed=3), n, layout)
    mv = create_aggregator(AggregatorConfig(algorithm="mv", seed=3), n)
    ids = [4, 8, 15, 16, 23, 42]  # even: ties, broken by mv's coin
    for t in range(6):
        bits = rng.random((6, n)) < [[0.1], [0.2], [0.3], [0.8], [0.9], [0.5]]
        decided = unpack(agg.aggregate(pack(bits), ids, t), n)
        majority = unpack(mv.aggregate(pack(bits), ids, t), n)
        if t == 0:
            np.testing.assert_array_equal(decided, majority)
        else:
            np.testing.assert_array_equal(decided[900:], majority[900:])
            assert (decided[:900] != majority[:900]).any()  # weighed elsewhere


def history(agg: FDVote, rounds: int, n: int, liars: dict[int, slice]) -> None:
    """Five clients vote x, each of `liars` the opposite on its slice; x wins throughout."""
    rng = np.random.default_rng(2)
    for t in range(rounds):
        x = rng.random(n) < 0.5
        bits = np.array([x] * 5)
        for client, where in liars.items():
            bits[client, where] = ~x[where]
        np.testing.assert_array_equal(unpack(agg.aggregate(pack(bits), range(5), t), n), x)


def test_warmup_weighs_each_client_by_one_pooled_weight() -> None:
    # client 3 is wrong on coordinates 16-47 every round (pooled right = 1/2: weight 0),
    # client 4 on 0-15 (pooled right = 3/4: log 3); 0-2 never (weight 5, the clip M)
    n, liars = 64, {3: slice(16, 48), 4: slice(0, 16)}
    y = np.random.default_rng(3).random(n) < 0.5
    votes = pack([y, y, ~y, ~y, ~y])  # the majority says ~y everywhere
    pooled = fd(AggregatorConfig(warmup_rounds=4), n)
    history(pooled, 3, n, liars)
    w = float(grid(np.log((0.75 + 1e-5) / (0.25 + 1e-5))))  # log 3, every coordinate
    assert pooled.client_weight_summary() == {0: 5.0, 1: 5.0, 2: 5.0, 3: 0.0, 4: w}
    # 5 + 5 - 5 - 0 - log 3 > 0: y on every coordinate, the majority's opposite
    np.testing.assert_array_equal(unpack(pooled.aggregate(votes, range(5), 3), n), y)
    # after the warm-up (T_in = 3) per coordinate: a liar weighs -5 where it lied, else +5:
    # 5 + 5 - 5 - 5 + 5 = 5 on 0-15, 5 + 5 - 5 + 5 - 5 = 5 on 16-47, -5 on 48-63
    per_coordinate = fd(AggregatorConfig(warmup_rounds=3), n)
    history(per_coordinate, 3, n, liars)
    decided = unpack(per_coordinate.aggregate(votes, range(5), 3), n)
    np.testing.assert_array_equal(decided, np.where(np.arange(n) < 48, y, ~y))


def test_final_layer_is_plain_majority_even_when_weights_would_flip_it() -> None:
    n, layout = 64, ((7, 8), (1, 4), (1, 4))  # final layer: coordinates 56-63
    rng = np.random.default_rng(4)
    y, z = rng.random(n) < 0.5, rng.random(n) < 0.5
    votes = pack([y, y, ~y, ~y, z])  # majority z; weights +5, +5, +5, +5, -5 say ~z
    for lay, body in ((layout, 56), ((), n)):
        agg = fd(AggregatorConfig(warmup_rounds=2), n, lay)
        history(agg, 2, n, {4: slice(0, n)})  # client 4: an inverter on every coordinate
        decided = unpack(agg.aggregate(votes, range(5), 2), n)
        np.testing.assert_array_equal(decided[:body], ~z[:body])
        np.testing.assert_array_equal(decided[body:], z[body:])


def test_weights_are_clipped_to_the_number_of_voters() -> None:
    # A always agrees (w = log(1/eps) = 11.5 unclipped); B, C, D disagree now and then.
    # Then A votes x against B, C, D: clipped to M = 4, A loses; llr's clip of 10 wins.
    n, rng = 32, np.random.default_rng(5)
    config = AggregatorConfig(warmup_rounds=1, seed=7)
    fd_vote, llr = fd(config, n), create_aggregator(config, n)
    dissent = {10: 1, 11: 2, 12: 3, 13: 1, 14: 2, 15: 3, 16: 1, 17: 2, 18: 3}
    for t in range(20):
        x = rng.random(n) < 0.5
        bits = [x, x, x, x]
        if t in dissent:
            bits[dissent[t]] = ~x
        for agg in (fd_vote, llr):
            np.testing.assert_array_equal(unpack(agg.aggregate(pack(bits), range(4), t), n), x)
    right = 17 / (20 + 1e-5)  # B, C, D: 3 disagreements in 20 rounds on every coordinate
    w = float(grid(np.log((right + 1e-5) / (1 - right + 1e-5))))
    assert 4 < 3 * w < 10  # together they outweigh A clipped to 4, not A clipped to 10
    assert fd_vote.client_weight_summary() == {0: 4.0, 1: w, 2: w, 3: w}
    assert llr.client_weight_summary()[0] == 10.0
    x = rng.random(n) < 0.5
    votes = pack([x, ~x, ~x, ~x])
    np.testing.assert_array_equal(unpack(fd_vote.aggregate(votes, range(4), 20), n), ~x)
    np.testing.assert_array_equal(unpack(llr.aggregate(votes, range(4), 20), n), x)


def test_sign_flippers_get_negative_weights_and_are_read_inverted() -> None:
    n, rng = 2000, np.random.default_rng(6)
    ids = list(range(7))  # 0-4 honest (wrong w.p. 0.2), 5 and 6 send -sign
    agg = fd(AggregatorConfig(warmup_rounds=20, seed=1), n)
    mv = create_aggregator(AggregatorConfig(algorithm="mv", seed=1), n)
    errors = {"fd": 0, "mv": 0}
    for t in range(60):
        truth = rng.random(n) < 0.5
        bits = truth ^ (rng.random((7, n)) < 0.2)
        bits[5:] = ~bits[5:]
        for name, a in (("fd", agg), ("mv", mv)):
            wrong = (unpack(a.aggregate(pack(bits), ids, t), n) != truth).sum()
            errors[name] += wrong if t >= 40 else 0
    assert errors["fd"] < 0.5 * errors["mv"], errors  # measured: 0.046 vs 0.19
    state = agg.state_dict()
    crossing = state["counts"] / state["rounds"][:, None]
    assert (crossing[5:] > 0.5).mean() > 0.99 and (crossing[:5] < 0.5).mean() > 0.99
    for flipper in (5, 6):  # voting alone, its vote is read backwards
        alone = rng.random(n) < 0.5
        flipped = unpack(agg.aggregate(pack([alone]), [flipper], 60 + flipper), n)
        assert (flipped != alone).mean() > 0.99


@pytest.mark.parametrize("forgetting", [1.0, 0.9])
def test_state_round_trip_continues_identically(forgetting: float) -> None:
    n, layout = 299, ((10, 25), (1, 10), (3, 12), (1, 3))
    config = AggregatorConfig(warmup_rounds=4, seed=8, forgetting=forgetting)
    first = fd(config, n, layout)
    rounds = list(noisy_rounds(10, n, 6, 12, abstain=False))
    for votes, ids, t in rounds[:5]:  # mid warm-up for some clients
        first.aggregate(pack(votes > 0), ids, t)
    saved = first.state_dict()
    second = fd(config, n, layout)
    second.load_state_dict(saved)
    assert first.client_weight_summary() == second.client_weight_summary()
    for votes, ids, t in rounds[5:]:
        np.testing.assert_array_equal(
            first.aggregate(pack(votes > 0), ids, t), second.aggregate(pack(votes > 0), ids, t)
        )
    assert first.client_weight_summary() == second.client_weight_summary()
    assert not np.array_equal(first.state_dict()["seen"], saved["seen"])


def test_client_weight_summary_follows_the_phase() -> None:
    n, layout = 203, LAYOUTS[0][1]
    config = AggregatorConfig(warmup_rounds=3, seed=2)
    agg = fd(config, n, layout)
    ref = FDReference(n, config, final_layer_start(layout, n))
    rng = np.random.default_rng(12)
    for t in range(6):  # everyone votes every round: the clients known are M = 5
        truth = rng.random(n) < 0.5
        bits = truth ^ (rng.random((5, n)) < [[0.1], [0.2], [0.3], [0.4], [0.9]])
        agg.aggregate(pack(bits), range(5), t)
        ref.vote(np.where(bits, 1.0, -1.0), list(range(5)), t)
        summary = agg.client_weight_summary()
        state = agg.state_dict()
        for client in range(5):
            w = ref.weight(client, 5)
            assert w is not None and summary[client] == float(np.abs(w).mean())
            if t + 1 < 3:  # the pooled weight, from the total disagreements
                d, r = state["counts"][client].sum(), state["rounds"][client]
                right = (n * r - d) / n / r
                pooled = grid(np.clip(np.log((right + 1e-5) / (1 - right + 1e-5)), -5, 5))
                assert summary[client] == abs(float(pooled))
            else:  # per coordinate: weights differ across coordinates
                assert len(np.unique(w)) > 1
    assert summary[4] > 0 and summary[4] == float(np.abs(ref.weight(4, 5)).mean())


def test_rejects_llr_only_settings_and_bad_layouts() -> None:
    with pytest.raises(ValueError, match="--pooled is llr's"):
        fd(AggregatorConfig(pooled=True), 8)
    with pytest.raises(ValueError, match="--abstentions skip is llr's"):
        fd(AggregatorConfig(zeros="abstain", abstentions="skip"), 8)
    with pytest.raises(ValueError, match="does not cover 8 coordinates"):
        fd(AggregatorConfig(), 8, ((2, 3),))
    algorithm = get_algorithm("fd")
    for agg in (
        AggregatorConfig(pooled=True),
        AggregatorConfig(zeros="abstain", abstentions="skip"),
    ):
        run = RunConfig(aggregator=replace(agg, algorithm="fd"))
        with pytest.raises(ConfigError, match="is llr's: --algorithm fd"):
            algorithm.encodings(run)
    abstain = RunConfig(aggregator=AggregatorConfig(algorithm="fd", zeros="abstain"))
    assert [c.name for c in algorithm.encodings(abstain)] == ["ternary", "ternary"]
    assert (algorithm.name, algorithm.label) == ("fd", "signSGD-FD (fd)")
    assert final_layer_start(((4, 5), (1, 4), (2, 4), (1, 2)), 34) == 24
