"""The client's copy of the master model: fetched whole, checked by its digest."""

from __future__ import annotations

import numpy as np

from common.params import digest
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc


class ReplicaMismatch(RuntimeError):
    """The replica's digest differs from the server's: refetch the model."""


def fetch_model(
    stub: pb_grpc.ParameterServerStub, client_id: int, session: bytes
) -> tuple[np.ndarray, int]:
    """(x^t, t): the master model through FetchModel, checked against its digest."""
    request = pb.FetchModelRequest(client_id=client_id, session=session)
    parts: list[bytes] = []
    round_index, expected = 0, b""
    for chunk in stub.FetchModel(request):
        parts.append(chunk.data)
        round_index, expected = chunk.round, chunk.model_digest
    flat = np.frombuffer(b"".join(parts), dtype="<f4").astype(np.float32)
    if digest(flat) != expected:
        raise ReplicaMismatch("fetched model does not match its own digest")
    return flat, round_index
