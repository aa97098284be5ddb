"""signSGD-FD (Park & Lee, ICML 2024, "SignSGD with Federated Defense"): IT-signSGD's
weighted vote (llr.py) with a pooled warm-up, weights clipped to +-M and the final
layer decided by plain majority.

    U_n = sign(sum_m w_mn Y_mn)

T_in is --warmup-rounds; r_m counts the rounds client m voted in (decayed with
--forgetting), d_mn its disagreements with the decision on coordinate n, counted by
llr.py's counters on every coordinate from round 0, warm-up and final layer included.

- Round 0 (no voter has a record yet): plain majority, every weight 1.
- Warm-up (a voter with 1 .. T_in - 1 rounds voted): one weight per client for all N
  coordinates, from its agreements pooled over them:
      right_m = (N r_m - D_m) / N / r_m,   D_m = sum_n d_mn
      w_m = log((right_m + eps) / (1 - right_m + eps))
- After it (max(T_in, 1) rounds voted or more): per coordinate, llr.py's weight
  (weights.py: right_mn = (r_m - d_mn) / (r_m + eps), the same log).
- Every weight is clipped to +-M, M the clients voting this round (not --weight-clip,
  which fd does not use), and rounded to weights.py's grid, so the sums are exact and
  independent of order, as llr's. A negative weight is kept: the client's votes are
  read inverted (a sign-flipping attacker decodes as an honest voter).
- The final layer, the model's last weight matrix and its bias (the last two blocks of
  the model's layout, common/ternary.layout_of), is always the round's plain majority,
  as mv decides it (ties by the same coin; U = 0 with abstaining zeros). With an empty
  layout (a caller that knows no layout) no final layer is known and every coordinate
  is weighed.
- Ties (a sum of exactly 0) and abstaining zeros (--zeros abstain: ternary rows, an
  abstention counts as a disagreement when U = +-1) as in llr.py. Not with --pooled
  (fd pools by itself) or --abstentions skip (its per-coordinate round counts have no
  pooled form): ValueError here, ConfigError from the algorithm.

Phases follow each client's own record (rounds voted) rather than the round index. In
the authors' setting every client votes every round, so a client's rounds voted equal
the round index and the two agree; with sampled clients a weight rests on the client's
own record. A client that has not voted yet takes llr.py's typical weight: per
coordinate, the mean weight of this round's voters that have a record.

The authors' code, chanho26/SignSGD_Codec, Algorithms/train_signSGD_FD.py (commit
39cf3d7), `calc_weight`: r == 0 all ones; r < T_in `prob_right = total_error /
total_comp / r` per worker (total_error sums its agreements over every layer) and
`log((prob_right + eps) / (1 - prob_right + eps))`; afterwards per coordinate
`count_error / (total_count + eps)`, the formula of llr.py. Where that code differs
we follow the paper's description as our issue states it:
- its clip is main.py's --max_LLR, default 10, in every phase; we clip to +-M;
- it weighs every layer alike: it has no final-layer exception;
- torch.sign leaves a tied coordinate at 0; with coin zeros (sign1) we break it by
  the coin, as llr and mv do;
- with forgetting (its weight_exp) it divides the decayed agreements by the round
  index r; we divide by the decayed round count, so right_m stays a fraction.
"""

from __future__ import annotations

import numpy as np

from common.aggregators.llr import LLRVote, Weigher
from common.aggregators.weights import (
    CoordinateWeigher,
    fill_typical,
    quantize,
    sum_dtype,
)
from common.codecs import Layout
from common.config import AggregatorConfig


def pooled_weight(
    disagreements: np.ndarray | float,
    rounds: np.ndarray | float,
    num_coords: int,
    eps: float,
    clip: float,
) -> np.ndarray:
    """The warm-up weight from D disagreements over N coordinates and r rounds, as
    the authors' calc_weight evaluates it (no eps in the fraction), clipped and rounded."""
    d = np.asarray(disagreements, dtype=np.float64)
    agreements = num_coords * np.asarray(rounds, dtype=np.float64) - d
    right = agreements / num_coords / rounds
    weight = np.log((right + eps) / (1.0 - right + eps))
    return quantize(np.clip(weight, -clip, clip))


def final_layer_start(layout: Layout, num_coords: int) -> int:
    """The first coordinate of the final layer, the last two blocks of `layout` (the
    whole vector when it has one block); num_coords (no final layer) when it is empty."""
    if not layout:
        return num_coords
    sizes = [rows * cols for rows, cols in layout]
    if min(min(block) for block in layout) < 1 or sum(sizes) != num_coords:
        raise ValueError(
            f"layout {layout} does not cover {num_coords} coordinates with non-empty blocks"
        )
    return num_coords - sum(sizes[-2:])


class FDVote(LLRVote):
    name = "fd"

    def __init__(self, num_coords: int, config: AggregatorConfig, layout: Layout = ()) -> None:
        if config.pooled:
            raise ValueError("fd pools its warm-up weights by itself; --pooled is llr's")
        if config.abstentions == "skip":
            raise ValueError(
                "fd counts an abstention as a disagreement; --abstentions skip is llr's"
            )
        super().__init__(num_coords, config)
        self.final_start = final_layer_start(layout, num_coords)
        self._record = max(config.warmup_rounds, 1)  # rounds voted before per-coordinate

    def _plain_majority(self, round_index: int, rows: np.ndarray, established: np.ndarray) -> bool:
        """Only while no voter has a record (round 0): the warm-up is weighed, pooled."""
        return not self._seen[rows].any()

    def _weigher(self, rows: np.ndarray, established: np.ndarray) -> Weigher:
        """(M, c) counts -> (M, c) weights: per coordinate for the `established` voters,
        pooled for those in their warm-up, the typical weight for those without a record."""
        cfg = self.config
        clip = float(len(rows))  # M: the clients voting this round
        dtype = sum_dtype(len(rows), clip)
        seen, rounds = self._seen[rows], self._rounds[rows]
        own = np.flatnonzero(established)
        warming = np.flatnonzero((seen > 0) & ~established)
        known = np.flatnonzero(seen > 0)
        new = np.flatnonzero(seen == 0)
        totals = [self._counts[row].sum(dtype=np.float64) for row in rows[warming]]
        pooled = pooled_weight(np.array(totals), rounds[warming], self.num_coords, cfg.eps, clip)
        coordinate = CoordinateWeigher(own, rounds, cfg.eps, clip, dtype, self._exact)
        if len(coordinate.tables) == 1 and own.size == len(rows):  # all alike: one lookup
            table = coordinate.tables[0][1]
            return lambda counts: np.take(table, counts)

        def weigh(counts: np.ndarray) -> np.ndarray:
            weights = np.empty(counts.shape, dtype)
            coordinate.fill(weights, counts)
            weights[warming] = pooled[:, np.newaxis]
            fill_typical(weights, known, new)
            return weights

        return weigh

    def _block_weights(self, weights: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Weight 1 for every vote on the final layer: its plain majority."""
        if hi > self.final_start:
            weights[:, max(lo, self.final_start) - lo :] = 1
        return weights

    def _record_weights(self, row: int, clip: float | None = None) -> np.ndarray:
        """The weights the client's record earns now (the final layer's 1s aside), for
        reports: clipped to the clients known unless `clip` is given (M when all vote)."""
        clip = float(len(self._row_of)) if clip is None else clip
        if self._seen[row] >= self._record:
            return super()._record_weights(row, clip)
        total = self._counts[row].sum(dtype=np.float64)
        return pooled_weight(total, self._rounds[row], self.num_coords, self.config.eps, clip)
