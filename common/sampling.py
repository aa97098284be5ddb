"""Which of its examples a client trains on in round t: a pure function of the round.

The stream of positions for client m is the concatenation of epoch permutations

    perm_e = default_rng([seed, m, e]).permutation(num_samples),   e = 0, 1, 2, ...

and round t takes stream positions [t * B, (t + 1) * B). A batch may straddle an epoch
boundary, and a batch larger than the client's share spans several epochs. No state is
carried between rounds, so a client restarted at round t, a replay, and the in-process
simulation all draw exactly the same minibatches.
"""

from __future__ import annotations

import functools

import numpy as np

# Bounded cache: a client touches one epoch at a time (two at a boundary), so 128 entries
# serve about 128 virtual clients in one process, at most ~61 MB for MNIST's 60,000
# examples. Beyond that the permutation is recomputed: about a millisecond, not an error.
_CACHE_ENTRIES = 128


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def epoch_permutation(num_samples: int, seed: int, client_id: int, epoch: int) -> np.ndarray:
    """(num_samples,) int64 perm_e, read-only because it is shared through the cache."""
    perm = np.random.default_rng([seed, client_id, epoch]).permutation(num_samples)
    perm.setflags(write=False)
    return perm


def minibatch_indices(
    num_samples: int, batch_size: int, round_index: int, seed: int, client_id: int
) -> np.ndarray:
    """(batch_size,) int64 positions into the client's share for round `round_index`."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if round_index < 0:
        raise ValueError(f"round_index must be >= 0, got {round_index}")
    if seed < 0 or client_id < 0:
        raise ValueError(f"seed and client_id must be >= 0, got {seed} and {client_id}")
    start = round_index * batch_size
    stop = start + batch_size
    parts = []
    for epoch in range(start // num_samples, (stop - 1) // num_samples + 1):
        offset = epoch * num_samples  # stream position of this epoch's first element
        lo = max(start, offset) - offset
        hi = min(stop, offset + num_samples) - offset
        parts.append(epoch_permutation(num_samples, seed, client_id, epoch)[lo:hi])
    return np.concatenate(parts)  # always a fresh, writable array
