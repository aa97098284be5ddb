"""gRPC servicer: translates protobuf <-> coordinator calls, and errors -> status codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.run_settings import run_settings
from common.wire import model_chunks
from server import stream
from server.async_coordinator import AsyncCoordinator
from server.auth import TokenVerifier
from server.coordinators import Coordinator
from server.errors import DeadlineExceeded, FailedPrecondition, ProtocolError
from server.membership import Membership
from server.split_coordinator import SplitCoordinator

ATTACH_TIMEOUT_S = 30.0  # a Train stream must say who it is within this long


class ParameterServer(pb_grpc.ParameterServerServicer):
    def __init__(
        self,
        coordinator: Coordinator,
        membership: Membership,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.membership = membership
        self.verifier = verifier  # the interceptor checked the token; here: whose it is
        self.settings = run_settings(
            coordinator.run,
            coordinator.wire,
            coordinator.master.num_params,
            coordinator.asynchrony if isinstance(coordinator, AsyncCoordinator) else None,
            coordinator.rounds.split if isinstance(coordinator, SplitCoordinator) else None,
        )

    def _proven_name(self, context: grpc.aio.ServicerContext) -> str:
        """The name this call's token proves ('' for none): the interceptor accepted the
        metadata already; this asks the pure verifier which name it proved."""
        if self.verifier is None:
            return ""
        return self.verifier.verify_metadata(context.invocation_metadata())

    async def Join(
        self, request: pb.JoinRequest, context: grpc.aio.ServicerContext
    ) -> pb.JoinReply:
        try:
            self.coordinator.refuse_if_done()
            proven = ""
            if self.verifier is not None:
                metadata = context.invocation_metadata()
                proven = self.verifier.check_join_name(metadata, request.client_name)
            member = self.membership.join(
                version=request.protocol_version,
                name=request.client_name,
                batch_size=request.batch_size,
                # Unset is "any id", not 0: an old client that never sets it must not
                # collide with whoever holds id 0.
                requested_id=request.requested_id if request.HasField("requested_id") else None,
                proven=proven,
            )
        except ProtocolError as exc:
            await context.abort(exc.code, str(exc))
        master = self.coordinator.master
        return pb.JoinReply(
            client_id=member.client_id,
            session=member.session,
            settings=self.settings,
            round=master.round,
            model_digest=master.digest,
            batch_size=member.batch_size,
        )

    async def Train(
        self, request_iterator: AsyncIterator[pb.ClientMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ServerMessage]:
        try:
            try:
                first = await asyncio.wait_for(anext(aiter(request_iterator)), ATTACH_TIMEOUT_S)
            except StopAsyncIteration:
                return
            except TimeoutError:  # a silent stream must not hold a handler forever
                raise DeadlineExceeded(
                    f"no Attach within {ATTACH_TIMEOUT_S:.0f}s of opening Train"
                ) from None
            link = stream.attach_stream(
                first, self.coordinator, self.membership, self._proven_name(context)
            )
            async for message in stream.serve(link, request_iterator, self.coordinator):
                yield message
        except ProtocolError as exc:
            await context.abort(exc.code, str(exc))

    async def FetchModel(
        self, request: pb.FetchModelRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelChunk]:
        try:
            self.membership.verify(request.client_id, request.session, self._proven_name(context))
            if isinstance(self.coordinator, SplitCoordinator):
                raise FailedPrecondition(
                    "split learning: the server's part stays on the server; a client's "
                    "part comes on its Train stream"
                )
        except ProtocolError as exc:
            await context.abort(exc.code, str(exc))
        master = self.coordinator.master
        # Bind one consistent snapshot: the master swaps its array, never mutates it.
        flat, round_index, digest = master.flat, master.round, master.digest
        chunks = model_chunks(
            round_index, flat.tobytes(), flat.size, digest, self.coordinator.wire.chunk_bytes
        )
        for chunk in chunks:
            yield chunk

    async def Status(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.StatusReply:
        c = self.coordinator
        return pb.StatusReply(
            state=c.state,
            round=c.round,
            rounds=c.run.rounds,
            # Waiting clients count too: a launcher shows 'N/M joined' before round 0.
            active_clients=len(c.cohort) + len(c.pending),
            algorithm=c.run.aggregator.algorithm,
            last_accuracy=c.metrics.last_accuracy or 0.0,
        )
