"""A client's part in an asynchronous run (RunSettings.async_mode): train from each model
the server sends, and send the result tagged with that model's version.

No rounds and no waiting for others: the server answers every update with the model as
it stands then, and this client trains from that one next. What it sends is its local
model (fedasync) or its delta from the model it received (fedbuff), float32, as the
simulation's clients do (signfed/async_simulation.py); its k-th update draws its
minibatches from (seed, client, k), and k travels as Update.sequence, so the server's
record of who sent what, in which order, is enough to retrain the run exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from client.model_assembler import ModelAssembler
from client.trainer import LocalTrainer
from common.codecs import Codec
from common.proto import signfed_pb2 as pb
from common.wire import update_messages

log = logging.getLogger(__name__)


class AsyncWorker:
    def __init__(
        self, mode: str, trainer: LocalTrainer, codec: Codec, chunk_bytes: int, delay_s: float
    ) -> None:
        self.mode = mode  # "fedasync" or "fedbuff"
        self.trainer = trainer
        self.codec = codec
        self.chunk_bytes = chunk_bytes
        self.delay_s = delay_s  # --delay: a slow device
        self.updates = 0  # k of the next update: kept across reconnects
        self._model = ModelAssembler()

    def receive(
        self,
        chunk: pb.ModelChunk,
        send: Callable[[pb.ClientMessage], None],
        flat: np.ndarray | None,
    ) -> np.ndarray | None:
        """Take one chunk of a model; once whole, train from it and `send` the update
        (unless it is the run's final model). Returns the replica: the new model when
        whole, else `flat`."""
        model = self._model.add(chunk)
        if model is None:
            return flat
        if not chunk.final:
            for message in self.update(model, chunk.round):
                send(message)
        return model

    def update(self, model: np.ndarray, version: int) -> list[pb.ClientMessage]:
        """Train from x^version; the result as Update messages (round: the version)."""
        k = self.updates
        self.updates += 1
        if self.mode == "fedasync":
            row = self.trainer.local_model(model, k)
        else:
            row = self.trainer.local_delta(model, k)
        if self.delay_s:
            time.sleep(self.delay_s)
        messages = update_messages(
            version, self.codec.encode(row), self.codec, model.size, self.chunk_bytes
        )
        for message in messages:
            message.update.sequence = k
        log.debug("update %d from version %d", k, version)
        return messages
