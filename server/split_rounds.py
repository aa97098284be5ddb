"""The rounds of a split run, as the server keeps them: the model, who trains next, and
how a round ends. The coordinator (server/split_coordinator.py) and the simulation
(signfed/split_simulation.py) both run this object, so they end at the same bits.

The model is the whole (N,) float32 vector x^t (common/split_model.Cut says which
ranges the client and the server hold). In round t the drawn clients train in id order:

- vanilla, ushaped (SplitNN): one at a time. The client's turn starts from the client
  part of x (the previous client's head: the handover goes through the server, whose
  ModelChunk carries the part's digest) and the server part of x. At the turn's end x
  takes both parts: x^{t+1} is x after the last turn.
- splitfed (SFLV1, Thapa et al.): all at once, each with its own copy of the server
  part, all starting from x^t. At the round's end every client's (head, server part)
  becomes a delta from x^t, and FedAvg's aggregator (the mean weighted by the examples
  each client holds, then --server-lr) gives x^{t+1}: SplitFed is FedAvg whose local
  training is split at the cut.
- splitfed2 (SFLV2): all at once, one server part for all, which takes their
  minibatches one at a time in a fixed rotation (`Rotation`: client 0's step, client
  1's, ..., client 0's next); the heads are averaged as SFLV1's, the server part is
  what the rotation left.

A client that leaves mid-turn is left out of the round: its server part is dropped, so
x^{t+1} is what the round gives without it (SFLV2: its head; the shared server part
keeps what its minibatches taught it).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from common.codecs import Codec
from common.config import RunConfig
from common.data import Dataset
from common.split_config import SplitConfig
from common.split_model import SPLITFED, SPLITFED2, Parts, build_parts, cut_shapes
from common.split_tensor import Tensor, TensorAssembler
from server.engine import RoundEngine
from server.split_server import ServerModel, ServerPart


def fedavg_engine(run: RunConfig, num_params: int) -> RoundEngine:
    """FedAvg's round step for the same run: SplitFed's averaging, to the bit."""
    aggregator = dataclasses.replace(run.aggregator, algorithm="fedavg")
    plain = dataclasses.replace(
        run, update_encoding="", decision_encoding="", aggregator=aggregator
    )
    return RoundEngine(plain, num_params)


class Rotation:
    """SFLV2's order: the clients in id order, round and round, each dropping out when
    its turn ends; the coordinator and the simulation take minibatches in this order."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.ids, self.at = list(ids), 0

    @property
    def current(self) -> int | None:
        return self.ids[self.at] if self.ids else None

    def advance(self) -> None:
        self.at = (self.at + 1) % len(self.ids)

    def remove(self, client_id: int) -> None:
        if client_id not in self.ids:
            return
        i = self.ids.index(client_id)
        del self.ids[i]
        if i < self.at:
            self.at -= 1
        if self.at >= len(self.ids):
            self.at = 0


class Inbox:
    """SFLV2 over the network: each client's messages (tensors, its returned part) held
    until the rotation reaches it, so they are taken in the simulation's order."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.rotation = Rotation(ids)
        self.held: dict[int, deque[Any]] = {c: deque() for c in self.rotation.ids}

    def hold(self, client_id: int, item: Any) -> None:
        self.held[client_id].append(item)

    def next(self) -> tuple[int, Any] | None:
        """(client, its held item) whose place in the rotation has come, or None."""
        c = self.rotation.current
        if c is None or not self.held[c]:
            return None
        return c, self.held[c].popleft()

    def remove(self, client_id: int) -> None:
        self.rotation.remove(client_id)
        self.held.pop(client_id, None)


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
        self._shared = ServerModel(run, self.parts.server)  # all but SFLV1's server model
        self._begun = -1  # SFLV2: the round the shared model was begun for
        whole = self.cut.num_params if variant == SPLITFED else self.cut.client_size
        self._fedavg = fedavg_engine(run, whole)  # what splitfed and splitfed2 average
        self.round = 0
        self.flat = np.zeros(self.cut.num_params, dtype=np.float32)  # x^round; load() sets
        self.active: dict[int, ServerPart] = {}  # client id -> its exchange this round
        self._rows: dict[int, np.ndarray] = {}  # finished clients' vectors, to average

    @property
    def split(self) -> SplitConfig:
        return SplitConfig(variant=self.variant, cut_layer=self.cut.layer)

    @property
    def parallel(self) -> bool:
        return self.variant in (SPLITFED, SPLITFED2)

    @property
    def rotates(self) -> bool:
        """SFLV2: one server part takes every client's minibatches in a fixed order."""
        return self.variant == SPLITFED2

    def load(self, flat: np.ndarray, round_index: int) -> None:
        self.flat, self.round = np.asarray(flat, dtype=np.float32), round_index
        self.active, self._rows = {}, {}

    def start_turn(self, client_id: int, batch_size: int) -> np.ndarray:
        """A client's turn (its round, for splitfed) begins: its part of x to send."""
        if self.variant == SPLITFED:  # a copy of the server part per client: SFLV1's memory
            model = ServerModel(self.run, copy.deepcopy(self.parts.server))
            model.begin(self.cut.server_flat(self.flat), self.round)
        else:
            if self.active and not self.parallel:
                raise RuntimeError(f"client {min(self.active)}'s turn has not ended")
            model = self._shared
            if self._begun != self.round or not self.parallel:
                model.begin(self.cut.server_flat(self.flat), self.round)
                self._begun = self.round
        part = ServerPart(self.parts, self.shapes, self.num_classes, self.codecs, model)
        part.begin(self.round, batch_size)
        self.active[client_id] = part
        return self.cut.client_flat(self.flat)

    def tensor_assembler(self, batch_size: int, chunk_bytes: int) -> TensorAssembler:
        """A stream's assembler, bounded by the largest tensor a client of `batch_size`
        may send (activations, or U-shaped an output's gradient)."""
        largest = batch_size * max(int(np.prod(shape)) for shape in self.shapes)
        return TensorAssembler(self.codecs[0], chunk_bytes, largest)

    def take(self, client_id: int, tensor: Tensor) -> Tensor:
        """A tensor from the client whose turn it is: the server part's answer."""
        return self.active[client_id].take(tensor)

    def end_turn(self, client_id: int, client_part: np.ndarray) -> None:
        """The client's part after its turn: x takes it (sequential), or it waits for the
        round's average (splitfed, splitfed2)."""
        part = self.active.pop(client_id)
        client_part = np.asarray(client_part, dtype=np.float32)
        if self.rotates:
            self._rows[client_id] = client_part
            return
        full = self.cut.join(client_part, part.model.flat())
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
            start = self.cut.client_flat(self.flat) if self.rotates else self.flat
            rows = np.stack([self._rows[c] - start for c in ids])  # (M, width) deltas
            weights = np.array([self.examples_of(c) for c in ids], dtype=np.float64)
            averaged = self._fedavg.step(start, self.round, ids, rows, weights).flat
            if self.rotates:  # the heads averaged; the server part as the rotation left it
                averaged = self.cut.join(averaged, self._shared.flat())
            self.flat = averaged
        self.round += 1
        self.active, self._rows = {}, {}
        return self.flat

    def server_memory(self) -> int:
        """Bytes of server parts' parameters and momentum held now (a report's number)."""
        per_part = 4 * (self.cut.top_start - self.cut.head_end)
        factor = 2 if self.run.client_momentum else 1
        models = len(self.active) if self.variant == SPLITFED else 1
        return per_part * factor * max(1, models)
