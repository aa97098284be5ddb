"""Tensors at the cut (split learning): encoded, chunked into SplitTensor messages, and
reassembled and checked on the other side.

A `Tensor` is what one side hands the other for one minibatch: its kind (activations,
the gradient at the cut, ...), where it belongs (round, step), its shape and its values
encoded by the run's codec (float32, float16 or bfloat16), plus the labels (vanilla)
or the loss (a cut gradient). The simulation hands Tensors over directly and counts
the bytes the messages would take; the network sends exactly those messages, so both
see the same values and the same byte counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from common.codec import checksum
from common.codecs import Codec, PayloadError
from common.proto import signfed_pb2 as pb
from common.wire import Reassembler, chunk_spans, wire_size

ACTIVATIONS = pb.ACTIVATIONS
CUT_GRADIENT = pb.CUT_GRADIENT
SERVER_OUTPUT = pb.SERVER_OUTPUT
OUTPUT_GRADIENT = pb.OUTPUT_GRADIENT
KIND_NAMES: dict[int, str] = {ACTIVATIONS: "activations", CUT_GRADIENT: "cut gradient",
              SERVER_OUTPUT: "server output", OUTPUT_GRADIENT: "output gradient"}  # fmt: skip


@dataclass(frozen=True)
class Tensor:
    kind: int  # a pb.TensorKind
    round: int
    step: int
    shape: tuple[int, ...]  # (B, ...)
    payload: bytes  # prod(shape) values in the codec's encoding
    labels: tuple[int, ...] = ()  # vanilla / splitfed activations: the batch's labels
    loss: float = 0.0  # a cut gradient's: the minibatch loss the server computed
    channels_last: bool = False  # the sender's memory layout, rebuilt by the receiver

    @property
    def what(self) -> str:
        return f"{KIND_NAMES.get(self.kind, 'tensor')} of round {self.round} step {self.step}"


def encode(
    kind: int,
    round_index: int,
    step: int,
    values: torch.Tensor,
    codec: Codec,
    *,
    labels: Sequence[int] = (),
    loss: float = 0.0,
) -> Tensor:
    """A tensor as it travels: row-major values (whatever its memory format) encoded."""
    flat = values.detach().contiguous().reshape(-1).numpy()
    payload = codec.encode(flat)
    layout = values.dim() == 4 and not values.is_contiguous()
    layout = layout and values.is_contiguous(memory_format=torch.channels_last)
    return Tensor(
        kind, round_index, step, tuple(values.shape), payload, tuple(labels), loss, layout
    )


def decode(tensor: Tensor, codec: Codec) -> torch.Tensor:
    """The float32 values of `tensor` in its shape and in the sender's memory layout:
    the receiving part then runs the kernels the whole model would, bit for bit (a
    channels-last input takes other convolution kernels, whose sums round otherwise)."""
    values = codec.decode(tensor.payload, math.prod(tensor.shape))
    rebuilt = torch.from_numpy(np.array(values, dtype=np.float32)).reshape(tensor.shape)
    return (
        rebuilt.contiguous(memory_format=torch.channels_last) if tensor.channels_last else rebuilt
    )


def _chunks(tensor: Tensor, codec: Codec, chunk_bytes: int) -> list[pb.SplitTensor]:
    crc = checksum(tensor.payload)
    spans = list(chunk_spans(len(tensor.payload), chunk_bytes))
    messages = []
    for i, (start, stop) in enumerate(spans):
        last = i == len(spans) - 1
        messages.append(
            pb.SplitTensor(
                round=tensor.round,
                step=tensor.step,
                kind=tensor.kind,  # type: ignore[arg-type]
                shape=tensor.shape,
                encoding=codec.wire_id,  # type: ignore[arg-type]
                offset=start,
                last=last,
                crc32=crc if last else 0,
                data=tensor.payload[start:stop],
                labels=tensor.labels if last else (),
                loss=tensor.loss if last else 0.0,
                channels_last=tensor.channels_last,
            )
        )
    return messages


def client_messages(tensor: Tensor, codec: Codec, chunk_bytes: int) -> list[pb.ClientMessage]:
    return [pb.ClientMessage(tensor=m) for m in _chunks(tensor, codec, chunk_bytes)]


def server_messages(tensor: Tensor, codec: Codec, chunk_bytes: int) -> list[pb.ServerMessage]:
    return [pb.ServerMessage(tensor=m) for m in _chunks(tensor, codec, chunk_bytes)]


def tensor_size(tensor: Tensor, codec: Codec, chunk_bytes: int) -> int:
    """Bytes the tensor's messages take on a stream (either direction: the oneof field
    of ClientMessage and ServerMessage is one byte of tag alike)."""
    return sum(wire_size(m) for m in client_messages(tensor, codec, chunk_bytes))


class TensorAssembler:
    """Collects one stream's chunks into Tensors. `max_values` bounds what a sender can
    make this side buffer (its largest legitimate tensor), checked on the first chunk,
    before any memory is taken."""

    def __init__(self, codec: Codec, chunk_bytes: int | None, max_values: int) -> None:
        self.codec = codec
        self.chunk_bytes = chunk_bytes
        self.max_values = max_values
        self._current: tuple[int, int, int, tuple[int, ...]] | None = None
        self._payload: Reassembler | None = None

    def add(self, m: pb.SplitTensor) -> Tensor | None:
        """One chunk in; the whole Tensor once its last chunk is (PayloadError if not
        well-formed: a shape, size, encoding or checksum that does not add up)."""
        shape = tuple(int(d) for d in m.shape)
        key = (m.kind, m.round, m.step, shape)
        if self._current is None:
            if not shape or min(shape) < 1:
                raise PayloadError(f"tensor shape {list(shape)} must be non-empty and positive")
            if math.prod(shape) > self.max_values:
                raise PayloadError(
                    f"tensor of shape {list(shape)} exceeds the {self.max_values} values "
                    "this side accepts"
                )
            self._current = key
            self._payload = Reassembler(math.prod(shape), self.chunk_bytes, self.codec)
        elif key != self._current:
            raise PayloadError("a tensor's chunks must share its kind, round, step and shape")
        assert self._payload is not None
        count = math.prod(shape)
        payload = self._payload.add_bytes(
            m.round, count, m.offset, m.data, m.last, m.crc32, m.encoding
        )
        if payload is None:
            return None
        self._current, self._payload = None, None
        return Tensor(
            m.kind, m.round, m.step, shape, payload, tuple(m.labels), m.loss, m.channels_last
        )
