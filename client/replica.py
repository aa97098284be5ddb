"""The client's copy of the master model: fetched whole, checked by its digest."""

from __future__ import annotations

import numpy as np

from client.model_assembler import ModelAssembler, ModelError
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc


class ReplicaMismatch(RuntimeError):
    """The replica's digest differs from the server's: refetch the model."""


def fetch_model(
    stub: pb_grpc.ParameterServerStub, client_id: int, session: bytes
) -> tuple[np.ndarray, int]:
    """(x^t, t): the master model through FetchModel, checked against its digest."""
    request = pb.FetchModelRequest(client_id=client_id, session=session)
    assembler, flat, round_index = ModelAssembler(), None, 0
    try:
        for chunk in stub.FetchModel(request):
            flat, round_index = assembler.add(chunk), chunk.round
    except ModelError as exc:
        raise ReplicaMismatch(f"fetched model: {exc}") from None
    if flat is None:
        raise ReplicaMismatch("FetchModel ended before the model's last chunk")
    return flat, round_index
