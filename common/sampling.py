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


LOCAL_KEY = 0x10CA1  # purpose key: the order of a client's local epochs (FedAvg)
PARTICIPANTS_KEY = 0x9A27  # purpose key: who trains in round t (partial participation)


def local_batches(
    num_samples: int,
    batch_size: int,
    round_index: int,
    seed: int,
    client_id: int,
    *,
    epochs: int,
    steps: int = 0,
) -> list[np.ndarray]:
    """Position arrays into the client's share, one per local SGD step of round t:
    `epochs` passes, each a fresh permutation seeded by (seed, client, round, epoch) cut
    into batches (the last one short), or, when `steps` > 0, the first `steps` batches
    of as many such passes as they need."""
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"need samples and a batch size >= 1, got {num_samples}, {batch_size}")
    batches: list[np.ndarray] = []
    epoch = 0
    while (steps and len(batches) < steps) or (not steps and epoch < epochs):
        order = np.random.default_rng([seed, LOCAL_KEY, client_id, round_index, epoch])
        perm = order.permutation(num_samples)
        batches += [perm[i : i + batch_size] for i in range(0, num_samples, batch_size)]
        epoch += 1
    return batches[:steps] if steps else batches


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def participants(seed: int, round_index: int, num_clients: int, per_round: int) -> tuple[int, ...]:
    """The sorted ids of the clients that train in round t: all of them, or `per_round`
    drawn without replacement by a sampler seeded by (seed, round). The server and each
    client compute it alike, so the selection never travels."""
    if per_round <= 0 or per_round >= num_clients:
        return tuple(range(num_clients))
    rng = np.random.default_rng([seed, PARTICIPANTS_KEY, round_index])
    return tuple(sorted(int(i) for i in rng.choice(num_clients, per_round, replace=False)))
