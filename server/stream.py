"""One client's Train stream: reads updates, writes decisions, fails with a status.

Reading and writing are decoupled: a reader task turns incoming messages into
coordinator calls while the handler yields whatever the coordinator queued for this
link. A protocol error ends only this stream (with its status code); the cohort
carries on without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from common.codecs import get_codec
from common.proto import signfed_pb2 as pb
from common.wire import PayloadError, Reassembler, wire_size
from server.async_coordinator import AsyncCoordinator
from server.coordinators import Coordinator
from server.errors import FailedPrecondition, InvalidArgument, ProtocolError
from server.links import Link
from server.membership import Membership
from server.split_coordinator import SplitCoordinator

log = logging.getLogger(__name__)


def attach_stream(
    first: pb.ClientMessage,
    coordinator: Coordinator,
    membership: Membership,
    proven: str = "",
) -> Link:
    """The first message must be Attach with a session from Join, on a call whose token
    proves what that Join's did (`proven`: the name, or '' for none)."""
    if first.WhichOneof("kind") != "attach":
        raise FailedPrecondition("not joined: the first message on Train must be Attach")
    member = membership.verify(first.attach.client_id, first.attach.session, proven)
    coordinator.count_up(wire_size(first))
    link = coordinator.attach(member.client_id)
    membership.mark_attached(member)  # after attach(): a finished run admits nobody
    return link


async def read_messages(
    link: Link, requests: AsyncIterator[pb.ClientMessage], coordinator: Coordinator
) -> ProtocolError | None:
    """Feed the coordinator until the client closes; returns the error that ended it."""
    wire = coordinator.wire
    # This stream's incoming update, chunk by chunk, sized and checked by the run's codec
    # (split learning: the client's part of the model, float32, and its tensors).
    if isinstance(coordinator, SplitCoordinator):
        size, codec = coordinator.cut.client_size, get_codec("float32")
        tensors = coordinator.tensor_assembler(link.client_id)
    else:
        size, codec = coordinator.engine.num_params, coordinator.engine.update_codec
    updates = Reassembler(size, wire.chunk_bytes, codec)
    try:
        async for message in requests:
            coordinator.count_up(wire_size(message))
            kind = message.WhichOneof("kind")
            if kind == "tensor" and isinstance(coordinator, SplitCoordinator):
                try:
                    tensor = tensors.add(message.tensor)
                except PayloadError as exc:
                    raise InvalidArgument(str(exc)) from None
                if tensor is not None:
                    coordinator.tensor(link, tensor)
            elif kind == "update":
                u = message.update
                try:
                    row = updates.add(
                        u.round, u.num_coords, u.offset, u.data, u.last, u.crc32, u.encoding
                    )
                except PayloadError as exc:
                    raise InvalidArgument(str(exc)) from None
                if row is None:
                    continue
                if isinstance(coordinator, SplitCoordinator):  # its part after its turn
                    coordinator.part_returned(link, u.round, row)
                elif isinstance(coordinator, AsyncCoordinator):  # u.round: its base version
                    coordinator.receive(link, u.round, u.sequence, row)
                else:
                    coordinator.vote(link, u.round, row)
            elif kind == "goodbye":
                coordinator.goodbye(link, message.goodbye.model_digest)
            else:
                raise FailedPrecondition(f"unexpected {kind or 'empty'} message after Attach")
    except ProtocolError as exc:
        # str(exc), not exc: a log record holding the exception would hold its traceback,
        # and with it this Link, for as long as any handler keeps records.
        log.warning("client %d: %s: %s", link.client_id, exc.code.name, str(exc))
        return exc
    finally:
        coordinator.detach(link)
        link.send(None)  # wake the writer: this stream is over
    return None


async def serve(
    link: Link, requests: AsyncIterator[pb.ClientMessage], coordinator: Coordinator
) -> AsyncIterator[pb.ServerMessage]:
    """Yield this link's outgoing messages; raises the ProtocolError that ended it."""
    reader = asyncio.create_task(read_messages(link, requests, coordinator))
    try:
        while (message := await link.outbox.get()) is not None:
            yield message
        if link.ended is not None:  # cut off, or replaced by a newer Join
            raise link.ended
        if reader.done() and (error := reader.result()) is not None:
            raise error
    finally:
        if not reader.done():
            reader.cancel()
        coordinator.detach(link)
