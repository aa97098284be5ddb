"""A plain float64 reference of DESIGN.md's vote, for tests only.

Written from the formulas, not from common/aggregators: unpacked +-1 arrays, a dict
of per-client records, a loop over clients. It shares with the real aggregators only
the spec constants (the weight grid and the tie coin's purpose key) and the rules
documented there: ties by the seeded coin (or U = 0 when zeros abstain), weights as
in the authors' code rounded to the grid, newcomers voting with the mean weight of
the established voters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.aggregators.bits import TIE_COIN_KEY
from common.aggregators.weights import QUANTUM
from common.codec import coin_rng
from common.config import AggregatorConfig


@dataclass
class Record:
    disagreements: np.ndarray  # (N,) float64, or shape () in pooled mode (over all N)
    rounds: float = 0.0
    votes: int = 0
    voted: np.ndarray | None = None  # (N,) rounds counted per coordinate (--abstentions skip)


@dataclass
class ReferenceVoter:
    num_coords: int
    config: AggregatorConfig
    records: dict[int, Record] = field(default_factory=dict)
    ties: int = 0  # tied coordinates so far, so tests can check ties were exercised

    def coin(self, round_index: int) -> np.ndarray:
        """(N,) +-1: the tie coin, one bit per coordinate from coin_rng's bytes."""
        raw = coin_rng(self.config.seed, round_index, TIE_COIN_KEY).bytes(-(-self.num_coords // 8))
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[: self.num_coords]
        return np.where(bits == 1, 1.0, -1.0)

    def weight(self, record: Record) -> np.ndarray:
        """The authors' calc_weight with eps and the clip, rounded to the grid."""
        c = self.config
        d = record.disagreements / (self.num_coords if c.pooled else 1)
        r = record.rounds
        right = (r - d) / (r + c.eps)  # the authors' prob_right: the agreement rate
        w = np.log((right + c.eps) / (1 - right + c.eps))
        w = np.minimum(np.abs(w), c.weight_clip) * np.sign(w)
        return np.round(w / QUANTUM) * QUANTUM

    def vote(self, signs: np.ndarray, client_ids: list[int], round_index: int) -> np.ndarray:
        """signs: (M, N) +-1 float64 (0 too, with zeros="abstain"). Returns the (N,)
        decision (+-1; 0 on a tie when zeros abstain); updates the records."""
        c = self.config
        zeros = np.zeros(() if c.pooled else self.num_coords)
        for client in client_ids:
            self.records.setdefault(client, Record(disagreements=zeros.copy()))
        present = [self.records[client] for client in client_ids]
        trusted = [rec.votes >= max(c.warmup_rounds, 1) for rec in present]
        skip = c.abstentions == "skip"
        if c.algorithm == "mv" or round_index < c.warmup_rounds or not any(trusted):
            total = signs.sum(axis=0)
        elif skip:
            total = self._skip_total(signs, present)
        else:
            weights = [
                self.weight(rec) if ok else None for rec, ok in zip(present, trusted, strict=True)
            ]
            known = [w for w in weights if w is not None]
            typical = np.round(sum(known) / len(known) / QUANTUM) * QUANTUM
            total = np.zeros(self.num_coords)
            for w, y in zip(weights, signs, strict=True):
                total = total + (typical if w is None else w) * y
        decision = np.sign(total)
        tied = total == 0
        self.ties += int(tied.sum())
        if c.zeros != "abstain":  # the authors' torch.sign keeps a tie at 0
            decision[tied] = self.coin(round_index)[tied]
        if c.algorithm == "llr" and skip:
            for rec, y in zip(present, signs, strict=True):
                counted = (y != 0) & (decision != 0)
                rec.disagreements = rec.disagreements + (counted & (y != decision))
                rec.voted = (0 if rec.voted is None else rec.voted) + counted
                rec.rounds += 1
                rec.votes += 1
        elif c.algorithm == "llr":
            for rec, y in zip(present, signs, strict=True):
                wrong = (y != decision).astype(np.float64)
                rec.disagreements = c.forgetting * rec.disagreements + (
                    wrong.sum() if c.pooled else wrong
                )
                rec.rounds = c.forgetting * rec.rounds + 1
                rec.votes += 1
        return decision

    def _skip_total(self, signs: np.ndarray, present: list[Record]) -> np.ndarray:
        """--abstentions skip: per coordinate, a client's own weight from the rounds it
        voted in once it has max(T_in, 1) of them, else the mean weight of those who
        have (1 when nobody has)."""
        c = self.config
        own, known = [], []
        for rec in present:
            r = np.zeros(self.num_coords) if rec.voted is None else rec.voted.astype(float)
            right = (r - rec.disagreements) / (r + c.eps)
            w = np.log((right + c.eps) / (1 - right + c.eps))
            w = np.minimum(np.abs(w), c.weight_clip) * np.sign(w)
            own.append(np.round(w / QUANTUM) * QUANTUM)
            known.append(r >= max(c.warmup_rounds, 1))
        total = np.zeros(self.num_coords)
        for n in range(self.num_coords):
            experienced = [w[n] for w, k in zip(own, known, strict=True) if k[n]]
            typical = (
                np.round(sum(experienced) / len(experienced) / QUANTUM) * QUANTUM
                if experienced
                else 1.0
            )
            for w, k, y in zip(own, known, signs, strict=True):
                total[n] += (w[n] if k[n] else typical) * y[n]
        return total
