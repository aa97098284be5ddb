"""A model (or a split client's part of one) that arrives as ModelChunk messages on the
Train stream: put together in order and checked against its size and digest."""

from __future__ import annotations

import numpy as np

from common.params import digest
from common.proto import signfed_pb2 as pb


class ModelError(RuntimeError):
    """A model the server sent does not add up (offsets, size or digest)."""


class ModelAssembler:
    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._received = 0

    def add(self, chunk: pb.ModelChunk) -> np.ndarray | None:
        """One chunk in; the (num_params,) float32 vector once the last one is."""
        if chunk.offset != self._received:
            raise ModelError(f"model chunk at byte {chunk.offset}, expected {self._received}")
        self._parts.append(chunk.data)
        self._received += len(chunk.data)
        if not chunk.last:
            return None
        data, self._parts, self._received = b"".join(self._parts), [], 0
        if len(data) != 4 * chunk.num_params:
            raise ModelError(f"model of {len(data)} bytes for {chunk.num_params} parameters")
        model = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if digest(model) != chunk.model_digest:
            raise ModelError(f"model version {chunk.round} does not match its digest")
        return model
