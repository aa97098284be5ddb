"""What every signSGD variant shares: a client sends the signs of its minibatch
gradient; replicas step by -lr * U.

An exactly-zero gradient coordinate is where the variants part (--zeros):
- coin (1 bit per coordinate, sign1): one bit cannot say zero, so the coordinate takes
  its bit from a fair coin seeded by (run seed, client, round) (replays and the
  simulation draw alike), and a tied vote takes a coin's bit too: U in {-1, +1}.
- abstain (ternary): the client sends 0 and abstains on that coordinate, a vote that
  sums to exactly 0 decides U = 0 and the coordinate stays put. That is torch.sign in
  the authors' code (common/aggregators/llr.py quotes it).
"""

from __future__ import annotations

import numpy as np

from common.algorithms.base import Algorithm, Trainer
from common.codec import coin_rng, pack_signs
from common.config import RunConfig
from common.ternary import ternary_row

ZERO_COIN_KEY = 0x5A  # purpose key: the coin for exact-zero gradient coordinates


def sign_vote(gradient: np.ndarray, seed: int, client_id: int, round_index: int) -> np.ndarray:
    """(ceil(N/8),) uint8: the packed signs of `gradient`, zeros by the client's coin."""
    return pack_signs(gradient, coin_rng(seed, ZERO_COIN_KEY, client_id, round_index))


class SignAlgorithm(Algorithm):
    update_encodings = ("sign1", "ternary")  # by --zeros: coin, abstain
    decision_encodings = ("sign1", "ternary")

    encoding_hint = " (--zeros coin sends sign1, --zeros abstain ternary)"

    def allowed_encodings(self, run: RunConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """sign1 both ways with coin zeros, ternary both ways with abstaining ones."""
        one = ("ternary",) if run.aggregator.zeros == "abstain" else ("sign1",)
        return one, one

    def local_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        return trainer.gradient(flat, round_index)

    def encode_update(
        self, update: np.ndarray, client_id: int, round_index: int, run: RunConfig
    ) -> np.ndarray:
        if run.aggregator.zeros == "abstain":
            return ternary_row(update)
        return sign_vote(update, run.seed, client_id, round_index)
