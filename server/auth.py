"""Client authentication by token, checked on every call before any servicer code runs.

`TokenVerifier` is the pure check: (token, claimed name) -> the authenticated name,
or Unauthenticated. `AuthInterceptor` applies it to the call metadata of every RPC
except Status (healthchecks must not need a credential) and answers UNAUTHENTICATED
itself, so a rejected call never reaches membership or the coordinator.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from common.config import ServerConfig
from common.tokens import (
    AUTHORIZATION,
    CLIENT_NAME,
    bearer_token,
    check_token,
    client_token,
    read_secret_file,
    read_tokens_file,
)
from server.errors import Unauthenticated

STATUS_METHOD = "/signfed.v1.ParameterServer/Status"


class TokenVerifier:
    """Accepts a token from a fixed list, or the token a shared secret gives a name."""

    def __init__(self, *, tokens: Iterable[str] = (), secret: bytes = b"") -> None:
        self._tokens = tuple(t.encode("ascii") for t in tokens)
        self._secret = secret
        if bool(self._tokens) == bool(secret):
            raise ValueError("give a list of tokens or a shared secret, exactly one")

    @property
    def binds_names(self) -> bool:
        """With a secret a token is good for one client name only."""
        return bool(self._secret)

    def verify(self, token: str, name: str) -> str:
        """The authenticated client name ('' for a list token); Unauthenticated otherwise."""
        if not token:
            raise Unauthenticated(
                "missing token: this server requires one (client --token or --token-file)"
            )
        presented = token.encode("utf-8")
        if self._secret:
            if not name:
                raise Unauthenticated(
                    "this server derives tokens from client names: start the client with --name"
                )
            if not hmac.compare_digest(presented, client_token(self._secret, name).encode()):
                raise Unauthenticated(
                    f"the token is not valid for client name {name[:64]!r} "
                    "(its token comes from: signfed token --name NAME)"
                )
            return name
        # Compare with every token, so timing does not tell how far down the list it is.
        matched = False
        for allowed in self._tokens:
            matched |= hmac.compare_digest(presented, allowed)
        if not matched:
            raise Unauthenticated("unknown token: pass one of the server's --tokens")
        return ""

    def verify_metadata(self, metadata: Iterable[tuple[str, Any]]) -> str:
        """verify() on a call's metadata: `authorization: Bearer <token>` and the name."""
        entries = _text_entries(metadata)
        return self.verify(
            bearer_token(entries.get(AUTHORIZATION, "")), entries.get(CLIENT_NAME, "")
        )

    def check_join_name(self, metadata: Iterable[tuple[str, Any]], client_name: str) -> None:
        """With a secret, a client joins only under the name its token was made for."""
        if not self.binds_names:
            return
        authenticated = _text_entries(metadata).get(CLIENT_NAME, "")
        if authenticated != client_name:
            raise Unauthenticated(
                f"Join as {client_name[:64]!r} with the token of {authenticated[:64]!r}: "
                "a client joins under the name its token was made for"
            )


def _text_entries(metadata: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Text metadata by key (binary '-bin' values are left out; a repeated key: the last)."""
    return {key: value for key, value in metadata if isinstance(value, str)}


def verifier_for(config: ServerConfig) -> TokenVerifier | None:
    """The server's verifier from its flags and files; None accepts any client."""
    if config.token_secret_file:
        return TokenVerifier(secret=read_secret_file(config.token_secret_file))
    tokens = tuple(check_token(t, "--tokens") for t in config.tokens)
    if config.tokens_file:
        tokens += read_tokens_file(config.tokens_file)
    return TokenVerifier(tokens=tokens) if tokens else None


def _rejecting(handler: grpc.RpcMethodHandler, error: Unauthenticated) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that only answers `error`."""

    async def abort(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(error.code, str(error))

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Runs the verifier on every call but the exempt ones; rejected calls go no further."""

    def __init__(
        self, verifier: TokenVerifier, exempt: frozenset[str] = frozenset({STATUS_METHOD})
    ) -> None:
        self.verifier = verifier
        self.exempt = exempt  # methods open to anybody

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)  # looks the method up; runs none of it
        if handler is None or details.method in self.exempt:
            return handler
        try:
            self.verifier.verify_metadata(details.invocation_metadata or ())
        except Unauthenticated as exc:
            return _rejecting(handler, exc)
        return handler
