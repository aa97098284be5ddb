"""The client's channel to the server: TLS when it names a CA, its token on every call."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from client.config import ClientConfig
from common.tls import open_channel
from common.tokens import call_metadata, check_token, read_token_file
from common.wire import grpc_options


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """grpc.ClientCallDetails with other metadata (gRPC's own examples do the same)."""


class MetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds fixed metadata (the token and the client's name) to every call."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    def _with_metadata(self, details: Any) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            (*(details.metadata or ()), *self.metadata),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_metadata(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_metadata(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_metadata(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[[Any, Any], Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_metadata(details), requests)


def client_token_of(config: ClientConfig) -> str:
    """--token, or the one token in --token-file; '' for none."""
    if config.token_file:
        return read_token_file(config.token_file)
    return check_token(config.token, "--token") if config.token else ""


def connect(config: ClientConfig, name: str) -> grpc.Channel:
    """A channel to config.server that sends `name` and the token with every call."""
    # gRPC's own reconnect backoff grows to 2 minutes: a server back after a restart
    # would sit unnoticed that long. Cap it at the client's rejoin backoff instead.
    reconnect = [
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", int(config.backoff_max_s * 1000)),
    ]
    channel = open_channel(
        config.server,
        [*grpc_options(config.wire), *reconnect],
        ca=config.tls_ca,
        cert=config.tls_cert,
        key=config.tls_key,
        server_name=config.tls_server_name,
    )
    token = client_token_of(config)
    if not token:
        return channel
    return grpc.intercept_channel(channel, MetadataInterceptor(call_metadata(token, name)))
