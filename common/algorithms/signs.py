"""What every signSGD variant shares: a client sends the signs of its minibatch
gradient, packed 1 bit per coordinate; replicas step by -lr * U with U in {-1, +1}.

One bit cannot say zero: an exact-zero coordinate takes its bit from a fair coin
seeded by (run seed, client, round), so replays and the simulation draw alike.
"""

from __future__ import annotations

import numpy as np

from common.algorithms.base import Algorithm, Trainer
from common.codec import coin_rng, pack_signs

ZERO_COIN_KEY = 0x5A  # purpose key: the coin for exact-zero gradient coordinates


def sign_vote(gradient: np.ndarray, seed: int, client_id: int, round_index: int) -> np.ndarray:
    """(ceil(N/8),) uint8: the packed signs of `gradient`, zeros by the client's coin."""
    return pack_signs(gradient, coin_rng(seed, ZERO_COIN_KEY, client_id, round_index))


class SignAlgorithm(Algorithm):
    update_encodings = ("sign1",)
    decision_encodings = ("sign1",)

    def client_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, seed: int
    ) -> np.ndarray:
        gradient = trainer.gradient(flat, round_index)
        return sign_vote(gradient, seed, trainer.client_id, round_index)
