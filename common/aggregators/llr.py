"""IT-signSGD (seed paper 001, eqs. (3)-(4)): the LLR-weighted majority vote.

    U_n = sign(sum_m w_mn Y_mn),   w_mn = log((1 - p_mn) / p_mn),   p_mn = d_mn / r_m

d_mn counts the rounds in which client m's bit differed from the decision U_n; r_m
counts the rounds client m voted in (a client offline for a round counts neither).
Counting starts at round 0 and includes the warm-up; with forgetting f every round
does d <- f*d + [Y != U] and r <- f*r + 1. eps, clipping and the rounding of the
weights follow the authors' code: see weights.py.

- round_index < warmup_rounds: plain majority (bits.py); the counters still count.
- Afterwards: weights from the counters as they stood BEFORE this round, then the
  counters take this round's decision.
- A weighted sum of exactly 0 is a tie: the seeded coin of bits.py decides it.
- Abstaining zeros (config.zeros == "abstain", ternary rows): a 0 adds nothing, a sum
  of exactly 0 decides U = 0, and Y != U compares as they are: an abstention counts
  against a client whenever U = +-1. The authors' rule (train_signSGD_FV.py,
  `update_count`: `count_error[i_v][..., i] += (est_grad[i_v] == torch.sign(v.grad))`);
  --abstentions skip counts only rounds a client voted in (voted.py).
- A negative weight (a client that disagrees more often than not) is kept: its vote
  is flipped, which is correct decoding.

No track record yet. A client is *established* once it has voted in
max(warmup_rounds, 1) rounds (a raw count, not decayed). Before that its own
estimate rests on too few rounds: after one round p is 0 or 1, a weight of +-clip
that would let a newcomer outvote everyone, while p = 1/2 (weight 0) would ignore
it, and a cohort of newcomers would then decide every coordinate by coin. So a
client short of that record votes with the *typical* weight: per coordinate, the
mean weight of the established clients voting this round (rounded to the grid).
If no established client votes, the round is a plain majority, as in the warm-up.
The newcomer's counters run from its first vote, so it earns its own weight after
its own warm-up. A client that merely missed rounds keeps its record.

Pooled mode (config.pooled): one p per client over all coordinates, p_m = D_m / (N r_m),
D_m its total disagreements (bitarray.util.count_xor on the packed vectors): the mean
of the per-coordinate p's, so both modes share the weight formula and the rules above.

Many clients, few a round: --pooled, for the reasons server/engine.py gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from common.aggregators import blocks
from common.aggregators.base import Aggregator
from common.aggregators.bits import majority, tie_coin
from common.aggregators.voted import count_voted, voted_weights
from common.aggregators.weights import (
    CoordinateWeigher,
    fill_typical,
    llr_weight,
    quantize,
    sum_dtype,
    weight_table,
)
from common.config import AggregatorConfig

Weigher = Callable[[np.ndarray], np.ndarray]


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


class LLRVote(Aggregator):
    name = "llr"
    abstains = True

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        super().__init__(num_coords, config)
        # Without forgetting the counts are integers: int32 is exact and indexes the
        # weight table directly. With forgetting they are fractions: float32.
        self._exact = config.forgetting == 1.0
        self._row_of: dict[int, int] = {}  # client id -> row of the counters
        self._ids = np.zeros(0, np.int64)  # (capacity,) client id per row
        self._counts = np.zeros((0,) if config.pooled else (0, num_coords), self._counts_dtype)
        self._rounds = np.zeros(0, np.float64)  # (capacity,) r_m, decayed
        self._seen = np.zeros(0, np.int64)  # (capacity,) rounds voted, not decayed
        # --abstentions skip: rounds counted per client and coordinate (voted.py)
        self._skip = self.abstain and config.abstentions == "skip"
        self._voted = np.zeros((0, num_coords) if self._skip else (0, 0), np.int32)

    @property
    def _counts_dtype(self) -> type[np.number]:
        if self.config.pooled:
            return np.float64  # (K,) totals over N coordinates: exact integers to 2^53
        return np.int32 if self._exact else np.float32

    def client_state_bytes(self) -> int:  # counts (N or 1, N voted with skip), r, seen, id
        counts = 1 if self.config.pooled else self.num_coords
        skip = 4 * self.num_coords if self._skip else 0
        return counts * np.dtype(self._counts_dtype).itemsize + skip + 24

    # ---- one round -------------------------------------------------------------

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,  # every vote counts alike: unused
    ) -> np.ndarray:
        votes, ids = self.check_inputs(votes, client_ids, round_index)
        rows = self._rows_for(ids)
        cfg = self.config
        # Abstaining zeros: a sum of exactly 0 decides U = 0, no coin (authors' rule).
        coin = None if self.abstain else tie_coin(cfg.seed, round_index, self.num_coords)
        established = self._seen[rows] >= max(cfg.warmup_rounds, 1)
        if self._plain_majority(round_index, rows, established):
            decision = majority(votes, self.num_coords, coin)
            if cfg.pooled:
                self._count_pooled(votes, rows, decision)
            else:
                self._coordinate_pass(votes, rows, decision=decision)
        elif cfg.pooled:
            decision = self._pooled_vote(votes, self._pooled_weights(rows, established), coin)
            self._count_pooled(votes, rows, decision)
        else:
            weigh = None if self._skip else self._weigher(rows, established)
            decision = self._coordinate_pass(votes, rows, weigh=weigh, coin=coin)
        self._rounds[rows] = cfg.forgetting * self._rounds[rows] + 1.0
        self._seen[rows] += 1
        return decision

    def _plain_majority(self, round_index: int, rows: np.ndarray, established: np.ndarray) -> bool:
        """Plain majority: the warm-up, or no voter established (a hook: fd.py weighs it)."""
        return round_index < self.config.warmup_rounds or not established.any()

    def _rows_for(self, ids: list[int]) -> np.ndarray:
        """Counter rows of `ids`, adding rows (and capacity) for ids never seen."""
        for client in ids:
            if client not in self._row_of:
                row = len(self._row_of)
                if row == len(self._ids):  # full: double, so growth stays amortised
                    capacity = max(1, 2 * row)
                    self._counts = _grown(self._counts, capacity)
                    self._rounds = _grown(self._rounds, capacity)
                    self._seen = _grown(self._seen, capacity)
                    self._ids = _grown(self._ids, capacity)
                    self._voted = _grown(self._voted, capacity)
                self._row_of[client] = row
                self._ids[row] = client
        return np.array([self._row_of[client] for client in ids], dtype=np.intp)

    def _weigher(self, rows: np.ndarray, established: np.ndarray) -> Weigher:
        """A function (M, c) counts -> (M, c) rounded weights for this round's voters."""
        cfg = self.config
        dtype = sum_dtype(len(rows), cfg.weight_clip)
        old = np.flatnonzero(established)
        new = np.flatnonzero(~established)
        coordinate = CoordinateWeigher(
            old, self._rounds[rows], cfg.eps, cfg.weight_clip, dtype, self._exact
        )
        if len(coordinate.tables) == 1 and new.size == 0:  # all voted alike: one lookup
            table = coordinate.tables[0][1]
            return lambda counts: np.take(table, counts)

        def weigh(counts: np.ndarray) -> np.ndarray:
            weights = np.empty(counts.shape, dtype)
            coordinate.fill(weights, counts)
            fill_typical(weights, old, new)
            return weights

        return weigh

    def _coordinate_pass(
        self,
        votes: np.ndarray,
        rows: np.ndarray,
        *,
        decision: np.ndarray | None = None,
        weigh: Weigher | None = None,
        coin: np.ndarray | None = None,
    ) -> np.ndarray:
        """Block by block over the coordinates: decide (given `weigh`, and the tie `coin`
        unless zeros abstain) unless `decision` is given, then count disagreements.
        Returns the decision (blocks.py: the vote and decision forms)."""
        n, forgetting, abstain = self.num_coords, self.config.forgetting, self.abstain
        deciding = decision is None
        if decision is None:
            decision = np.empty(votes.shape[1], np.uint8)
        first = int(rows[0])
        contiguous = np.array_equal(rows, np.arange(first, first + len(rows)))
        select: slice | np.ndarray = slice(first, first + len(rows)) if contiguous else rows
        step = blocks.block_size(len(rows))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            block = blocks.votes_block(votes, lo, hi, n, abstain)
            counts = self._counts[select, lo:hi]  # a view when contiguous, else a copy
            voted = self._voted[select, lo:hi] if self._skip else None
            if not deciding:
                decided = blocks.decided_block(decision, lo, hi, n, abstain)
            else:
                if voted is not None:
                    weights = self._voted_weights(counts, voted)
                else:
                    assert weigh is not None
                    weights = weigh(counts)
                weights = self._block_weights(weights, lo, hi)
                total = blocks.weighted_total(weights, block, abstain)
                decided = blocks.decide(total, coin, lo, hi)
                blocks.pack_decided(decision, decided, lo, hi, n)
            if voted is not None:
                count_voted(counts, voted, block, decided)
            elif self._exact:
                np.add(counts, block != decided, out=counts)
            else:
                counts *= forgetting
                counts += block != decided
            if not contiguous:
                self._counts[select, lo:hi] = counts
                if voted is not None:
                    self._voted[select, lo:hi] = voted
        return decision

    def _block_weights(self, weights: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """The (M, c) weights coordinates [lo, hi) vote with: as weighed (a hook:
        signSGD-FD, fd.py, decides its final layer by plain majority)."""
        return weights

    def _voted_weights(self, counts: np.ndarray, voted: np.ndarray) -> np.ndarray:
        cfg = self.config
        dtype = sum_dtype(counts.shape[0], cfg.weight_clip)
        return voted_weights(
            counts, voted, cfg.eps, cfg.weight_clip, max(cfg.warmup_rounds, 1), dtype
        )

    def _pooled_weights(self, rows: np.ndarray, established: np.ndarray) -> np.ndarray:
        cfg = self.config
        mean_counts = self._counts[rows] / self.num_coords
        weights = quantize(llr_weight(mean_counts, self._rounds[rows], cfg.eps, cfg.weight_clip))
        if not established.all():
            weights[~established] = quantize(weights[established].sum() / established.sum())
        return weights.astype(sum_dtype(len(rows), cfg.weight_clip))

    def _pooled_vote(
        self, votes: np.ndarray, weights: np.ndarray, coin: np.ndarray | None
    ) -> np.ndarray:
        n = self.num_coords
        decision = np.empty(votes.shape[1], np.uint8)
        step = blocks.block_size(len(weights))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            total = blocks.weighted_total(
                weights, blocks.votes_block(votes, lo, hi, n, self.abstain), self.abstain
            )
            blocks.pack_decided(decision, blocks.decide(total, coin, lo, hi), lo, hi, n)
        return decision

    def _count_pooled(self, votes: np.ndarray, rows: np.ndarray, decision: np.ndarray) -> None:
        for vote, row in zip(votes, rows, strict=True):
            wrong = blocks.disagreements(vote, decision, self.num_coords, self.abstain)
            self._counts[row] = self.config.forgetting * self._counts[row] + wrong

    # ---- reports and checkpoints -------------------------------------------------

    def client_weight_means(self) -> dict[int, tuple[float, float]]:
        """(mean |w|, mean w) each client's own record earns (zeros before its first vote)."""
        means: dict[int, tuple[float, float]] = {}
        for client, row in self._row_of.items():
            w = self._record_weights(row) if self._seen[row] else np.zeros(1)
            means[client] = (float(np.abs(w).mean()), float(w.mean()))
        return means

    def _record_weights(self, row: int, clip: float | None = None) -> np.ndarray:
        """Rounded float64 weights from client `row`'s own record, clipped to +-clip
        (--weight-clip unless given): one (pooled) or (N,) per coordinate (a hook: fd.py)."""
        cfg = self.config
        r, clip = self._rounds[row], cfg.weight_clip if clip is None else clip
        if cfg.pooled:
            return quantize(llr_weight(self._counts[row] / self.num_coords, r, cfg.eps, clip))
        if self._exact:
            return np.take(weight_table(int(r), cfg.eps, clip, np.float64), self._counts[row])
        return quantize(llr_weight(self._counts[row], r, cfg.eps, clip))

    def state_dict(self) -> dict[str, np.ndarray]:
        known = len(self._row_of)
        state = {
            "client_ids": self._ids[:known].copy(),
            "counts": self._counts[:known].copy(),
            "rounds": self._rounds[:known].copy(),
            "seen": self._seen[:known].copy(),
        }
        if self._skip:
            state["voted"] = self._voted[:known].copy()
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        keys = {"client_ids", "counts", "rounds", "seen"} | ({"voted"} if self._skip else set())
        if set(state) != keys:
            raise ValueError(f"llr state needs keys {sorted(keys)}, got {sorted(state)}")
        ids = np.asarray(state["client_ids"], dtype=np.int64)
        counts = np.asarray(state["counts"], dtype=np.float64)
        rounds = np.asarray(state["rounds"], dtype=np.float64)
        seen = np.asarray(state["seen"], dtype=np.int64)
        known = len(ids)
        shape = (known,) if self.config.pooled else (known, self.num_coords)
        if counts.shape != shape or rounds.shape != (known,) or seen.shape != (known,):
            raise ValueError(
                f"llr state for {known} clients has counts {counts.shape}, rounds "
                f"{rounds.shape}, seen {seen.shape}; this run needs counts {shape} "
                f"(pooled={self.config.pooled}, {self.num_coords} coordinates)"
            )
        if len(set(ids.tolist())) != known or (ids < 0).any():
            raise ValueError("llr client_ids must be distinct non-negative integers")
        if self._exact and not (np.all(counts == np.rint(counts)) and np.all(rounds == seen)):
            raise ValueError(
                "llr counts are fractional (forgetting < 1); this run has forgetting=1"
            )
        most = rounds * self.num_coords if self.config.pooled else rounds[:, np.newaxis]
        if self._skip:
            most = np.asarray(state["voted"], dtype=np.float64)
            if most.shape != shape or not (0 <= most).all() or (most > rounds[:, None]).any():
                raise ValueError("llr voted counts must lie between 0 and the rounds voted")
        if (counts < 0).any() or (self._exact and (counts > most).any()):
            raise ValueError("llr counts must lie between 0 and the rounds counted")
        self._ids = ids.copy()
        if self._skip:
            self._voted = most.astype(np.int32)
        self._counts = counts.astype(self._counts_dtype)
        self._rounds = rounds.copy()
        self._seen = seen.copy()
        self._row_of = {int(client): row for row, client in enumerate(ids.tolist())}
