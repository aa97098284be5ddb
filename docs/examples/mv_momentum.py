"""An algorithm in one file: majority vote with server momentum ("mv-momentum").

Clients send the signs of their minibatch gradients, 1 bit a coordinate, as in
signSGD-MV. The server keeps a momentum of the votes,

    m <- BETA * m + (1 - BETA) * v,   v = sum_m w_m sign(g_m) / sum_m w_m  (w: examples)

and broadcasts sign(m), 1 bit a coordinate; every replica (server, clients, the
simulation) steps x <- x - lr * sign(m). The momentum is the aggregator's state: it
goes into checkpoints through state_dict(), so a resumed server goes on where it was.

    signfed simulate --plugin docs/examples/mv_momentum.py --algorithm mv-momentum \\
        --dataset digits --lr 0.01 --rounds 100

docs/extending.md explains each part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from common.aggregators import Aggregator
from common.algorithms import Algorithm, Trainer, register
from common.codec import coin_rng, pack_signs, unpack_signs
from common.codecs import Layout
from common.config import AggregatorConfig, RunConfig

BETA = 0.9  # a plugin adds no flags: a constant (or read an environment variable)
CLIENT_COIN = 0x4D4D43  # purpose keys of the seeded coins for exact zeros ("MMC")
SERVER_COIN = 0x4D4D53  # ("MMS"): any constant of your own, so no other coin repeats


class MomentumVote(Aggregator):
    """The server's half: packed sign rows in, the packed signs of the momentum out."""

    name = "mv-momentum"
    codec = "sign1"  # the rows it reads: (M, ceil(N/8)) uint8, bit 1 = +1

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        super().__init__(num_coords, config)
        self.momentum = np.zeros(num_coords, dtype=np.float64)  # (N,)

    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        rows, _ = self.check_inputs(votes, client_ids, round_index)  # ValueError if malformed
        signs = unpack_signs(rows, self.num_coords)  # (M, N) float32 in {-1, +1}
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
        vote = (w @ signs) / w.sum()  # (N,) in [-1, 1]
        self.momentum = BETA * self.momentum + (1.0 - BETA) * vote
        # An exact zero (a tied first vote) takes a coin seeded by (seed, round): a rerun
        # and a resumed run decide alike.
        return pack_signs(self.momentum, coin_rng(self.config.seed, SERVER_COIN, round_index))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"momentum": self.momentum.copy()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.momentum = np.array(state["momentum"], dtype=np.float64)


@register
class MajorityVoteMomentum(Algorithm):
    name = "mv-momentum"  # what --algorithm takes
    label = "signSGD-MV + server momentum (mv-momentum)"  # figures and reports
    summary = "signs up; the server's momentum of the votes, its signs down"  # --help
    update_encodings = ("sign1",)  # what a client may send; the first is the default
    decision_encodings = ("sign1",)  # what the server may broadcast
    colour = "tab:olive"

    def local_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        return trainer.gradient(flat, round_index)  # (N,) float32 at x^t

    def encode_update(
        self, update: np.ndarray, client_id: int, round_index: int, run: RunConfig
    ) -> np.ndarray:
        coin = coin_rng(run.seed, CLIENT_COIN, client_id, round_index)
        return pack_signs(update, coin)  # (ceil(N/8),) uint8: the row that travels

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return MomentumVote(num_coords, config)

    # apply() is the base class's: x - lr * U with U the decision's values (+-1 here).
