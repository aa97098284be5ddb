"""signSGD-MV (Bernstein et al. 2018/2019): U_n = sign(sum_m Y_mn), counted on packed words.

Ties (even M, exactly M/2 votes for +1) take the bit of a seeded fair coin,
coin_rng(config.seed, round_index, TIE_COIN_KEY), drawn for every coordinate and
read only where the vote is tied; see common/aggregators/bits.py. Stateless.

With abstaining zeros (--zeros abstain) the votes are ternary: an exact-zero
coordinate adds to neither count, U = sign(#(+1) - #(-1)), and a tie (or no vote
at all) is U = 0: the coordinate stays where it is, as torch.sign decides in the
authors' code. No coin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.aggregators.base import Aggregator
from common.aggregators.bits import majority_packed, ternary_majority, tie_coin


class MajorityVote(Aggregator):
    name = "mv"
    abstains = True

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,  # every vote counts alike: unused
    ) -> np.ndarray:
        votes, _ = self.check_inputs(votes, client_ids, round_index)
        if self.abstain:  # ternary votes: U = sign(#(+1) - #(-1)), 0 on a tie
            return ternary_majority(votes, self.num_coords)
        coin = None
        if votes.shape[0] % 2 == 0:  # odd M cannot tie: skip the draw
            coin = tie_coin(self.config.seed, round_index, self.num_coords)
        return majority_packed(votes, self.num_coords, coin)
