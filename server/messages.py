"""Every message the server writes on a Train stream, built in one place with its size.

The coordinator decides *what* to say (a round starts, a decision, a stop, a late
vote); this module says it in protobuf, so the coordinator imports neither gRPC nor the
generated stubs, and a change of the wire format (a new Decision encoding) is an edit
here. Each method returns the message(s) and their wire size in bytes (gRPC framing
included), which the coordinator adds to the round's bytes_down.
"""

from __future__ import annotations

import grpc
import numpy as np

from common.codecs import Codec
from common.proto import signfed_pb2 as pb
from common.wire import decision_messages, messages_size, model_chunks, round_start, wire_size
from server.outcome import Outcome

# Rejected.code of a late vote: the same number a client would see as a gRPC status.
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
# ... and of an asynchronous update older than --max-staleness versions
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]

_PROTO_OUTCOME = {
    Outcome.FINISHED: pb.FINISHED,
    Outcome.INTERRUPTED: pb.INTERRUPTED,
    Outcome.FAILED: pb.FAILED,
}


class Outgoing:
    """Builds the server -> client messages of the Train stream (stateless)."""

    def start(self, round_index: int, model_digest: bytes) -> tuple[pb.ServerMessage, int]:
        """RoundStart: admits a client into the cohort at `round_index`."""
        message = round_start(round_index, model_digest)
        return message, wire_size(message)

    def decision(
        self,
        round_index: int,
        payload: bytes,
        codec: Codec,
        num_coords: int,
        chunk_bytes: int,
        model_digest: bytes,
    ) -> tuple[list[pb.ServerMessage], int]:
        """The round's encoded decision in chunks; the size is that of one recipient's
        copy. The only call to common.wire.decision_messages on the server."""
        messages = decision_messages(
            round_index, payload, codec, num_coords, chunk_bytes, model_digest
        )
        return messages, messages_size(messages)

    def stop(self, reason: str, rounds_done: int, outcome: Outcome) -> tuple[pb.ServerMessage, int]:
        """Stop: the run is over for this client, and why (the client's exit code)."""
        message = pb.ServerMessage(
            stop=pb.Stop(reason=reason, rounds_done=rounds_done, outcome=_PROTO_OUTCOME[outcome])
        )
        return message, wire_size(message)

    def rejected(
        self, round_index: int, reason: str, code: int = DEADLINE_EXCEEDED
    ) -> tuple[pb.ServerMessage, int]:
        """A vote that came after its round closed, or (asynchronous runs) an update too
        stale to apply: not an error, the stream goes on."""
        rejected = pb.Rejected(round=round_index, code=code, reason=reason)
        message = pb.ServerMessage(rejected=rejected)
        return message, wire_size(message)

    def model(
        self, version: int, flat: np.ndarray, model_digest: bytes, chunk_bytes: int, final: bool
    ) -> tuple[list[pb.ServerMessage], int]:
        """Asynchronous runs: the model x^version to train from (or, `final`, to hold)."""
        chunks = model_chunks(version, flat.tobytes(), flat.size, model_digest, chunk_bytes)
        messages = []
        for chunk in chunks:
            chunk.final = final
            messages.append(pb.ServerMessage(model=chunk))
        return messages, messages_size(messages)
