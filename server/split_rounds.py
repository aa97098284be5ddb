"""The rounds of a split run, as the server keeps them: the model, who trains next, and
how a round ends. The coordinator (server/split_coordinator.py) and the simulation
(signfed/split_simulation.py) both run this object, so they end at the same bits.

The model is the whole (N,) float32 vector x^t (common/split_model.Cut says which
ranges the client and the server hold). In round t the drawn clients train in id order:

- vanilla, ushaped (SplitNN): one at a time. The client's turn starts from the client
  part of x (the previous client's head: the handover goes through the server, whose
  ModelChunk carries the part's digest) and one server part, which carries on from
  turn to turn. At the turn's end x takes both parts: x^{t+1} is x after the last turn.
- splitfed (SFLV1, Thapa et al.): all at once, each with its own copy of the server
  part, all starting from x^t. At the round's end every client's (head, server part)
  becomes a delta from x^t, and FedAvg's aggregator (the mean weighted by the examples
  each client holds, then --server-lr) gives x^{t+1}: SplitFed is FedAvg whose local
  training is split at the cut.

A client that leaves mid-turn (its stream failed) is left out of the round: its server
part is dropped, so x^{t+1} is what the round gives without it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np

from common.codecs import Codec
from common.config import RunConfig
from common.data import Dataset
from common.split_config import SplitConfig
from common.split_model import SPLITFED, Parts, build_parts, cut_shapes
from common.split_tensor import Tensor
from server.engine import RoundEngine
from server.split_server import ServerPart


def fedavg_engine(run: RunConfig, num_params: int) -> RoundEngine:
    """FedAvg's round step for the same run: SplitFed's averaging, to the bit."""
    aggregator = dataclasses.replace(run.aggregator, algorithm="fedavg")
    plain = dataclasses.replace(
        run, update_encoding="", decision_encoding="", aggregator=aggregator
    )
    return RoundEngine(plain, num_params)


class SplitRounds:
    def __init__(
        self,
        run: RunConfig,
        dataset: Dataset,
        *,
        layer: str,
        variant: str,
        codecs: tuple[Codec, Codec],
        examples_of: Callable[[int], int],  # the examples a client holds (its weight)
    ) -> None:
        self.run, self.variant, self.codecs = run, variant, codecs
        self.examples_of = examples_of
        self.num_classes = dataset.num_classes
        self.parts: Parts = build_parts(
            run.model, dataset.input_shape, dataset.num_classes, run.seed, layer, variant
        )
        self.cut = self.parts.cut
        self.shapes = cut_shapes(self.parts, dataset.input_shape)
        self._shared = self._part(self.parts)  # the sequential variants' one server part
        self._fedavg = fedavg_engine(run, self.cut.num_params)  # splitfed's averaging
        self.round = 0
        self.flat = np.zeros(self.cut.num_params, dtype=np.float32)  # x^round; load() sets
        self.active: dict[int, ServerPart] = {}  # client id -> its server part this round
        self._rows: dict[int, np.ndarray] = {}  # splitfed: finished clients' full vectors

    @property
    def split(self) -> SplitConfig:
        return SplitConfig(variant=self.variant, cut_layer=self.cut.layer)

    def _part(self, parts: Parts) -> ServerPart:
        return ServerPart(self.run, parts, self.shapes, self.num_classes, self.codecs)

    @property
    def parallel(self) -> bool:
        return self.variant == SPLITFED

    def load(self, flat: np.ndarray, round_index: int) -> None:
        self.flat, self.round = np.asarray(flat, dtype=np.float32), round_index
        self.active, self._rows = {}, {}

    def start_turn(self, client_id: int, batch_size: int) -> np.ndarray:
        """A client's turn (its round, for splitfed) begins: its part of x to send."""
        if self.parallel:  # a copy of the server part per client: SFLV1's server memory
            server = copy.deepcopy(self.parts.server)  # the server stages only
            part = self._part(dataclasses.replace(self.parts, server=server))
        else:
            if self.active:
                raise RuntimeError(f"client {min(self.active)}'s turn has not ended")
            part = self._shared
        part.begin(self.cut.server_flat(self.flat), self.round, batch_size)
        self.active[client_id] = part
        return self.cut.client_flat(self.flat)

    def take(self, client_id: int, tensor: Tensor) -> Tensor:
        """A tensor from the client whose turn it is: the server part's answer."""
        return self.active[client_id].take(tensor)

    def end_turn(self, client_id: int, client_part: np.ndarray) -> None:
        """The client's part after its turn: x takes it (sequential), or it waits for the
        round's average (splitfed)."""
        part = self.active.pop(client_id)
        full = self.cut.join(np.asarray(client_part, dtype=np.float32), part.flat())
        if self.parallel:
            self._rows[client_id] = full
        else:
            self.flat = full

    def drop(self, client_id: int) -> None:
        """The client left mid-turn: what its turn trained is forgotten (the next turn's
        server part starts from x again, as every turn does)."""
        self.active.pop(client_id, None)

    def close(self) -> np.ndarray:
        """x^{round + 1}: the last turn's (sequential) or the average (splitfed)."""
        if self.parallel and self._rows:
            ids = sorted(self._rows)
            rows = np.stack([self._rows[c] - self.flat for c in ids])  # (M, N) deltas
            weights = np.array([self.examples_of(c) for c in ids], dtype=np.float64)
            self.flat = self._fedavg.step(self.flat, self.round, ids, rows, weights).flat
        self.round += 1
        self.active, self._rows = {}, {}
        return self.flat

    def server_memory(self) -> int:
        """Bytes of server parts' parameters and momentum held now (a report's number)."""
        per_part = 4 * (self.cut.top_start - self.cut.head_end)
        factor = 2 if self.run.client_momentum else 1
        return per_part * factor * max(1, len(self.active))
