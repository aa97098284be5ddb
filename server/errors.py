"""Domain errors of the parameter server and their gRPC status codes, in one place.

Coordinator and membership raise these; the servicer turns them into
`context.abort(code, message)`. The message says what the client should change.
"""

from __future__ import annotations

import grpc


class ProtocolError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(ProtocolError):
    """Wrong length, bad checksum, malformed message."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(ProtocolError):
    """Wrong round, not joined, wrong protocol version."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(ProtocolError):
    """A second upload for the same round, or a client id taken by another name."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(ProtocolError):
    """Missing or unknown token."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ProtocolError):
    """A valid token, used with the session of another client's Join. Not
    UNAUTHENTICATED: the caller did prove who it is (gRPC keeps that code for callers
    that cannot be identified); it may just not act as somebody else. A distinct code
    also tells an operator "a stolen session" apart from "a wrong token"."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(ProtocolError):
    """Cohort full."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(ProtocolError):
    """A stream that stayed silent too long."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Aborted(ProtocolError):
    """A newer Join of the same client took over its stream; or a Join under the name
    of a client whose stream is live, without that name's token."""

    code = grpc.StatusCode.ABORTED


class Unavailable(ProtocolError):
    """The server is shutting down or the run is over."""

    code = grpc.StatusCode.UNAVAILABLE
