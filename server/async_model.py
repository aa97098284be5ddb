"""The server's model in asynchronous training: every update applied as it arrives.

One class for every backend (the in-process asynchronous simulation today), as the
round engine is for synchronous rounds: it holds x and its version t, takes one
client's result trained from version tau, and says what became of it:

    fedasync: x <- (1 - a_t) x + a_t x_new, a_t = alpha * s(t - tau)   t <- t + 1
    fedbuff:  the delta joins the buffer; at K of them x <- x + eta_g * mean(c_k delta_k)
              and t <- t + 1
    either:   t - tau > --max-staleness -> STALE, nothing changes; the client catches up
              tau > t, or tau < 0 -> UnknownVersion (a version this server never had)

FedAsync's client sends its model x_new, FedBuff's its delta (algorithms' rows alike,
float32, the same size): so FedAsync needs no history of old versions on the server.
The maths is common/staleness.py's; the order of arrivals is the caller's, and it alone
decides the bits (the simulation's virtual clock, the network's arrival order, which
the server records so that a simulation can replay it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.async_config import AsyncConfig
from common.staleness import buffer_scale, buffered_step, mix, staleness_weight

APPLIED, BUFFERED, STALE = "applied", "buffered", "stale"


class UnknownVersion(ValueError):
    """An update claims a model version the server has never had."""


@dataclass(frozen=True)
class Arrival:
    """What one update did."""

    client: int
    base_version: int  # tau: the version it was trained from
    staleness: int  # t - tau when it arrived
    status: str  # APPLIED, BUFFERED or STALE
    version: int  # the server's version after it
    weight: float  # a_t (fedasync) or the buffer's c (fedbuff); 0 when STALE


class AsyncModel:
    def __init__(self, config: AsyncConfig, server_lr: float, flat: np.ndarray) -> None:
        if not config.enabled:
            raise ValueError("AsyncModel needs --async fedasync or fedbuff")
        self.config = config
        self.server_lr = server_lr
        self.flat = np.asarray(flat, dtype=np.float32)  # (N,) never changed in place
        self.version = 0
        self._deltas: list[np.ndarray] = []  # fedbuff: the buffer, in arrival order
        self._scales: list[float] = []

    @property
    def buffered(self) -> int:
        return len(self._deltas)

    def receive(self, client: int, base_version: int, row: np.ndarray) -> Arrival:
        """Apply (or buffer, or refuse) one update: `row` is x_new for fedasync, the
        delta x_new - x^tau for fedbuff."""
        if not 0 <= base_version <= self.version:
            raise UnknownVersion(
                f"update from client {client} claims version {base_version}; "
                f"this server has versions 0..{self.version}"
            )
        cfg = self.config
        staleness = self.version - base_version
        if cfg.too_stale(staleness):
            return Arrival(client, base_version, staleness, STALE, self.version, 0.0)
        if cfg.mode == "fedasync":
            a = cfg.alpha * staleness_weight(
                cfg.staleness, staleness, cfg.staleness_a, cfg.staleness_b
            )
            self.flat = mix(self.flat, row, a)
            self.version += 1
            return Arrival(client, base_version, staleness, APPLIED, self.version, a)
        scale = buffer_scale(staleness, not cfg.buffer_plain)
        self._deltas.append(np.asarray(row, dtype=np.float32))
        self._scales.append(scale)
        if len(self._deltas) < cfg.buffer_size:
            return Arrival(client, base_version, staleness, BUFFERED, self.version, scale)
        self.flat = buffered_step(self.flat, self._deltas, self._scales, self.server_lr)
        self._deltas, self._scales = [], []
        self.version += 1
        return Arrival(client, base_version, staleness, APPLIED, self.version, scale)

    # ---- state for checkpoints: x itself travels as the checkpoint's model -------------

    def state_dict(self) -> dict[str, np.ndarray]:
        n = self.flat.size
        return {
            "version": np.array([self.version], dtype=np.int64),
            "buffer": np.stack(self._deltas) if self._deltas else np.zeros((0, n), np.float32),
            "scales": np.array(self._scales, dtype=np.float64),
        }

    def load_state_dict(self, flat: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Restore x, its version and the buffer; ValueError if they do not fit."""
        buffer, scales = state["buffer"], state["scales"]
        version = int(state["version"][0])
        if buffer.dtype != np.float32 or buffer.ndim != 2 or buffer.shape[1] != flat.size:
            raise ValueError(f"buffer is {buffer.dtype} {buffer.shape}; the model has {flat.size}")
        if not len(buffer) == len(scales) < self.config.buffer_size or version < 0:
            raise ValueError(
                f"version {version}, {len(buffer)} buffered deltas and {len(scales)} scales "
                f"do not fit --buffer-size {self.config.buffer_size}"
            )
        self.flat = np.asarray(flat, dtype=np.float32)
        self.version = version
        self._deltas = list(buffer)
        self._scales = [float(s) for s in scales]
