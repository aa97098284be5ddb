"""Attacking clients: what a Byzantine client sends in place of its honest update.

An attack transforms the float update a client computed (a gradient, or FedAvg's model
delta) before it is encoded, so one definition serves every algorithm: sign algorithms
send the signs of the corrupted vector. Label flipping acts earlier, on the client's
data (client/trainer.py). Which clients attack is seeded (`attacker_ids`), so a
networked run and its simulation pick the same ids; randomness is a function of
(seed, client, round). An attacker uses the same protocol and limits as everyone else.

    negate     -s * u                         (s = 1: inverted signs; the grid's s = 4)
    random     u with each coordinate's sign flipped w.p. 1/2 (random signs, same size)
    gauss      N(0, s^2) per coordinate in place of u (signSGD-FD's `gauss`)
    labelflip  honest training on labels y -> C - 1 - y
    alie       mu - z * sigma            "a little is enough" (Baruch et al. 2019)
    ipm        -s * mu                   inner-product manipulation (Xie et al. 2020)

mu and sigma (per coordinate) are the mean and standard deviation of the honest
updates of the colluding attackers at this round's model: attackers know their own
data and nothing else, so they estimate the honest statistics from the updates their
own shards give (the threat model of Baruch et al.). z comes from the normal quantile
that keeps the attack inside the honest spread: s = floor(M/2 + 1) - F supporters,
z = Phi^-1((M - s) / M); --attack-scale overrides it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

ATTACKS = ("none", "negate", "random", "gauss", "labelflip", "alie", "ipm")
COLLUDING = ("alie", "ipm")  # need the colluders' honest updates
DEFAULT_SCALE = {"negate": 1.0, "gauss": 1.0, "ipm": 0.1}  # alie: z from M and F

ATTACKER_KEY = 0xA7  # purpose key: which ids attack
NOISE_KEY = 0xA8  # purpose key: an attacker's noise in round t


def attacker_ids(seed: int, num_clients: int, attackers: int) -> tuple[int, ...]:
    """The ids that attack in a run: `attackers` of `num_clients`, seeded, sorted."""
    if not 0 <= attackers <= num_clients:
        raise ValueError(f"--attackers must be in [0, {num_clients}], got {attackers}")
    rng = np.random.default_rng([seed, ATTACKER_KEY, num_clients])
    return tuple(sorted(int(i) for i in rng.choice(num_clients, attackers, replace=False)))


def alie_z(num_clients: int, attackers: int) -> float:
    """Baruch et al.'s z_max for M clients of which F attack (0 when F is 0)."""
    supporters = math.floor(num_clients / 2 + 1) - attackers
    return NormalDist().inv_cdf((num_clients - supporters) / num_clients) if attackers else 0.0


def noise_rng(seed: int, client_id: int, round_index: int) -> np.random.Generator:
    return np.random.default_rng([seed, NOISE_KEY, client_id, round_index])


def corrupt(
    kind: str,
    honest: np.ndarray,
    *,
    scale: float,
    rng: np.random.Generator,
    colluders: np.ndarray | None = None,
    num_clients: int = 0,
    attackers: int = 0,
) -> np.ndarray:
    """(N,) float32: what an attacker of `kind` sends in place of `honest` (N,).
    colluders: (F, N) the honest updates of the colluding attackers (alie, ipm);
    scale: the attack's strength, 0 for its default."""
    u = np.asarray(honest, dtype=np.float32)
    s = scale or DEFAULT_SCALE.get(kind, 0.0)
    if kind in ("none", "labelflip"):
        return u
    if kind == "negate":
        return np.float32(-s) * u
    if kind == "random":
        flips = rng.integers(0, 2, size=u.size, dtype=np.int8) * 2 - 1  # (N,) +-1
        return u * flips.astype(np.float32)
    if kind == "gauss":
        return (s * rng.standard_normal(u.size)).astype(np.float32)
    if colluders is None or colluders.ndim != 2 or colluders.shape[1] != u.size:
        raise ValueError(f"--attack {kind} needs the colluders' honest updates, (F, {u.size})")
    rows = colluders.astype(np.float64)
    mu = rows.mean(axis=0)
    if kind == "ipm":
        return (-s * mu).astype(np.float32)
    if kind == "alie":
        z = scale or alie_z(num_clients, attackers)
        return (mu - z * rows.std(axis=0)).astype(np.float32)
    raise ValueError(f"unknown attack {kind!r}; available: {', '.join(ATTACKS)}")


def flipped_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """y -> C - 1 - y: every label moved to another class (for C >= 2)."""
    return (num_classes - 1) - np.asarray(labels)
