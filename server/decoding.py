"""Requests that do not parse end with INVALID_ARGUMENT, not gRPC's UNKNOWN."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.errors import InvalidArgument


def _parser(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def _parse(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError as exc:
            raise InvalidArgument(f"malformed request: {exc}") from None

    return _parse


class DecodeErrors(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse = _parser(handler.request_deserializer)
        out = handler.response_serializer
        if handler.request_streaming:

            async def requests(raw: AsyncIterator[bytes]) -> AsyncIterator[Any]:
                async for message in raw:
                    yield parse(message)  # InvalidArgument: the servicer's ProtocolError path

            if handler.response_streaming:

                async def bidi(raw: Any, context: Any) -> AsyncIterator[Any]:
                    async for m in handler.stream_stream(requests(raw), context):
                        yield m

                return grpc.stream_stream_rpc_method_handler(bidi, response_serializer=out)

            async def client_stream(raw: Any, context: Any) -> Any:
                return await handler.stream_unary(requests(raw), context)

            return grpc.stream_unary_rpc_method_handler(client_stream, response_serializer=out)

        async def parsed(raw: bytes, context: Any) -> Any:
            try:
                return parse(raw)
            except InvalidArgument as exc:
                await context.abort(exc.code, str(exc))

        if handler.response_streaming and not inspect.isasyncgenfunction(handler.unary_stream):

            async def written_stream(raw: bytes, context: Any) -> None:
                # Writes with context.write (grpc.health.v1's Watch), yields nothing.
                await handler.unary_stream(await parsed(raw, context), context)

            return grpc.unary_stream_rpc_method_handler(written_stream, response_serializer=out)

        if handler.response_streaming:

            async def server_stream(raw: bytes, context: Any) -> AsyncIterator[Any]:
                async for m in handler.unary_stream(await parsed(raw, context), context):
                    yield m

            return grpc.unary_stream_rpc_method_handler(server_stream, response_serializer=out)

        async def unary(raw: bytes, context: Any) -> Any:
            return await handler.unary_unary(await parsed(raw, context), context)

        return grpc.unary_unary_rpc_method_handler(unary, response_serializer=out)
