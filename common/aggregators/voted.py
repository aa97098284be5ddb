"""`--abstentions skip`: IT-signSGD's statistics over the rounds a client really voted.

The authors' counter (llr.py) adds a round to every client's record on every
coordinate and counts an abstention (Y = 0) as a disagreement whenever the decision
is +-1. A client whose gradient is often exactly 0 on a coordinate (a batch-4 client,
a unit that is dead for its few examples) then shows p > 1/2 there although its
actual votes may be mostly right: its weight turns negative and its votes are
flipped. Measured (docs/results/zeros-mnist, MNIST batch mode 4, 3 seeds, constant
lr): it does not help there. Over rounds 100-600 skip and the authors' counter reach
75.2 % and 74.6 %; in the last third 56.0 % and 72.7 %, both within the seeds' spread
(the constant lr makes mode 4 swing by tens of points, whichever counter). It stays an
option, not the default.

`skip` estimates what the weight is for, the crossing probability of a vote that is
cast: a round counts for client m on coordinate n only when m voted (Y != 0) and the
decision was +-1 (U != 0), and it is a disagreement when Y != U:

    p_mn = #(rounds with Y_mn != 0, U_n != 0, Y_mn != U_n) / #(rounds with Y_mn != 0, U_n != 0)

so each client-coordinate has its own round count r_mn (an M x N counter more). The
weight formula, eps, clip and grid are the authors' (weights.py). A record of fewer
than max(warmup_rounds, 1) counted rounds is too short to trust, as for newcomers in
llr.py, now per coordinate: such a vote carries the mean weight of the voters with a
long enough record on that coordinate, or 1 when nobody has one (a plain majority
there). Counters are integers (no forgetting) and per coordinate (not --pooled).
"""

from __future__ import annotations

import numpy as np

from common.aggregators.weights import llr_weight, quantize


def voted_weights(
    counts: np.ndarray,
    voted: np.ndarray,
    eps: float,
    clip: float,
    min_rounds: int,
    dtype: type[np.floating],
) -> np.ndarray:
    """(M, c) weights on the grid from disagreements and counted rounds per element."""
    own = quantize(llr_weight(counts, voted.astype(np.float64), eps, clip))
    known = voted >= min_rounds
    experienced = known.sum(axis=0)
    mean = np.where(known, own, 0.0).sum(axis=0) / np.maximum(experienced, 1)
    typical = np.where(experienced > 0, quantize(mean), 1.0)
    return np.where(known, own, typical).astype(dtype)


def count_voted(
    counts: np.ndarray, voted: np.ndarray, block: np.ndarray, decided: np.ndarray
) -> None:
    """In place: the rounds that count (Y != 0 and U != 0) and the disagreements among
    them, for an (M, c) int8 block of votes and the (c,) int8 decided values."""
    counted = (block != 0) & (decided != 0)
    np.add(voted, counted, out=voted)
    np.add(counts, counted & (block != decided), out=counts)
