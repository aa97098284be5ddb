"""A client's part in a split run (RunSettings.split_variant), driven by the Train stream.

The server opens the client's turn (SplitNN) or round (SplitFed) with its part of the
model as ServerMessage.model, digest-checked (the previous client's head, for SplitNN).
The client then exchanges one minibatch at a time with the server's part
(client/split_client.py: activations up; a gradient at the cut, or U-shaped the
server's output, down) and after its last minibatch returns its part as an Update
(FLOAT32, `round` the turn's round). The run's last model chunk is marked final: the
part as it ended, which every client holds at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from client.model_assembler import ModelAssembler
from client.split_client import ClientSide
from common.codecs import codec_for_wire, get_codec
from common.data import Dataset
from common.proto import signfed_pb2 as pb
from common.run_settings import run_config_from, split_config_from
from common.split_model import cut_shapes
from common.split_tensor import SERVER_OUTPUT, TensorAssembler, client_messages
from common.wire import update_messages

log = logging.getLogger(__name__)

Send = Callable[[pb.ClientMessage], None]


class SplitWorker:
    def __init__(self, side: ClientSide, chunk_bytes: int, delay_s: float) -> None:
        self.side = side
        self.chunk_bytes = chunk_bytes
        self.delay_s = delay_s  # --delay: a slow device, per turn
        self._model = ModelAssembler()
        widths = cut_shapes(side.parts, side.dataset.input_shape)
        largest = side.batch_size * max(int(np.prod(shape)) for shape in widths)
        self._tensors = TensorAssembler(side.down, chunk_bytes, largest)
        self.turns = 0

    def receive(
        self, chunk: pb.ModelChunk, send: Send, part: np.ndarray | None
    ) -> np.ndarray | None:
        """One chunk of this client's part; once whole, the turn begins (unless it is the
        run's final part). Returns the part held: the new one when whole."""
        received = self._model.add(chunk)
        if received is None:
            return part
        if not chunk.final:
            self.side.begin(received, chunk.round)
            log.info("round %d: my turn, %d minibatches", chunk.round, self.side.steps)
            self._forward(send)
        return received

    def answer(self, message: pb.SplitTensor, send: Send) -> None:
        """One chunk of the server's tensor; once whole, the exchange's next move."""
        tensor = self._tensors.add(message)
        if tensor is None:
            return
        if tensor.kind == SERVER_OUTPUT:
            for m in client_messages(self.side.top(tensor), self.side.up, self.chunk_bytes):
                send(m)
            return
        self.side.backward(tensor)
        if not self.side.done:
            self._forward(send)
            return
        if self.delay_s:
            time.sleep(self.delay_s)
        part = self.side.part()
        float32 = get_codec("float32")
        for m in update_messages(self.side.round, float32.encode(part), float32, part.size,
                                 self.chunk_bytes):  # fmt: skip
            send(m)
        self.turns += 1

    def _forward(self, send: Send) -> None:
        for m in client_messages(self.side.forward(), self.side.up, self.chunk_bytes):
            send(m)


def split_worker_for(reply: pb.JoinReply, dataset: Dataset, delay_s: float) -> SplitWorker:
    """A fresh worker for each Join: after a rejoin the server restarts the turn (or
    round) from the part it holds, so nothing of an interrupted exchange is kept."""
    settings = reply.settings
    split = split_config_from(settings)
    codecs = (codec_for_wire(settings.update_encoding), codec_for_wire(settings.decision_encoding))
    side = ClientSide(
        run_config_from(settings), reply.client_id, reply.batch_size, dataset,
        layer=split.cut_layer, variant=split.variant, codecs=codecs,
    )  # fmt: skip
    return SplitWorker(side, int(settings.chunk_bytes), delay_s)
