"""Client authentication by token, checked on every call before any servicer code runs.

`TokenVerifier` is the pure check: (token, claimed name) -> the name the token proves
('' for a token bound to no name), or Unauthenticated. `AuthInterceptor` applies it to
the call metadata of every RPC except Status and grpc.health.v1 (healthchecks must
not need a credential) and answers UNAUTHENTICATED itself, so a rejected call never
reaches membership or the coordinator. The servicer asks again for the proven name: Join
binds it to the member, and Attach and FetchModel must show the same one.

A token is bound to a name with a shared secret (every token), or by a list entry
`NAME:TOKEN`; a bare list token is a cohort-wide credential that proves no name, and
may join under any name no list entry binds.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from common.config import ConfigError
from common.tokens import (
    AUTHORIZATION,
    CLIENT_NAME,
    bearer_token,
    client_token,
    read_secret_file,
    read_tokens_file,
    token_entry,
)
from server.config import ServerConfig
from server.errors import Unauthenticated
from server.health import HEALTH_METHODS

STATUS_METHOD = "/signfed.v1.ParameterServer/Status"
OPEN_METHODS = frozenset({STATUS_METHOD, *HEALTH_METHODS})  # healthchecks: no token


class TokenVerifier:
    """Accepts a token from a fixed list, or the token a shared secret gives a name.
    List entries are `TOKEN` (any name) or `NAME:TOKEN` (that name only)."""

    def __init__(self, *, tokens: Iterable[str] = (), secret: bytes = b"") -> None:
        entries = [token_entry(entry, "--tokens") for entry in tokens]
        self._tokens = tuple((name, token.encode("ascii")) for name, token in entries)
        self._bound_names = frozenset(name for name, _ in entries if name)
        self._secret = secret
        if bool(self._tokens) == bool(secret):
            raise ValueError("give a list of tokens or a shared secret, exactly one")
        names_of: dict[bytes, set[str]] = {}
        for name, token in self._tokens:
            names_of.setdefault(token, set()).add(name)
        if any(len(names) > 1 for names in names_of.values()):
            clash = sorted(next(n for n in names_of.values() if len(n) > 1))
            raise ConfigError(
                f"--tokens/--tokens-file: one token is listed for {clash} ('' = bare): "
                "a token may be bound to one name, or to none"
            )

    @property
    def binds_names(self) -> bool:
        """With a secret every token is good for one client name only."""
        return bool(self._secret)

    def verify(self, token: str, name: str) -> str:
        """The name `token` proves ('' for a bare list token); Unauthenticated otherwise."""
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
                raise _not_valid_for(name, "its token comes from: signfed token --name NAME")
            return name
        # Compare with every token, so timing does not tell how far down the list it is.
        matched: str | None = None
        for bound, allowed in self._tokens:
            if hmac.compare_digest(presented, allowed):
                matched = bound
        if matched is None:
            raise Unauthenticated("unknown token: pass one of the server's --tokens")
        if matched and matched != name:
            raise _not_valid_for(name, "it is bound to another --name by a NAME:TOKEN entry")
        return matched

    def verify_metadata(self, metadata: Iterable[tuple[str, Any]] | None) -> str:
        """verify() on a call's metadata: `authorization: Bearer <token>` and the name."""
        entries = _text_entries(metadata or ())
        return self.verify(
            bearer_token(entries.get(AUTHORIZATION, "")), entries.get(CLIENT_NAME, "")
        )

    def check_join_name(self, metadata: Iterable[tuple[str, Any]] | None, client_name: str) -> str:
        """The name the Join's token proves, which must be the name it joins under; a
        name bound by a NAME:TOKEN entry joins with that token only."""
        proven = self.verify_metadata(metadata)
        if proven != client_name and (proven or client_name in self._bound_names):
            held = f"the token of {proven[:64]!r}" if proven else "a token bound to no name"
            raise Unauthenticated(
                f"Join as {client_name[:64]!r} with {held}: a client joins under the name "
                "its token was made for"
            )
        return proven


def _not_valid_for(name: str, why: str) -> Unauthenticated:
    return Unauthenticated(f"the token is not valid for client name {name[:64]!r} ({why})")


def _text_entries(metadata: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Text metadata by key (binary '-bin' values are left out; a repeated key: the last)."""
    return {key: value for key, value in metadata if isinstance(value, str)}


def verifier_for(config: ServerConfig) -> TokenVerifier | None:
    """The server's verifier from its flags and files; None accepts any client."""
    if config.token_secret_file:
        return TokenVerifier(secret=read_secret_file(config.token_secret_file))
    tokens = tuple(config.tokens)
    for token in tokens:  # each source checked here, so that the error names it
        token_entry(token, "--tokens")
    if config.tokens_file:
        listed = read_tokens_file(config.tokens_file)
        for token in listed:
            token_entry(token, f"--tokens-file {config.tokens_file}")
        tokens += listed
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

    def __init__(self, verifier: TokenVerifier, exempt: frozenset[str] = OPEN_METHODS) -> None:
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
