"""How a client's run ends, the exit code of each ending, and which failures a rejoin cures.

The server's Stop says how the run ended (pb.Outcome). Only FINISHED is success:
after INTERRUPTED (or UNSPECIFIED, from a server that predates the field) a
`signfed server --resume` may continue the run, so the client waits for the server
to come back, exactly as when the server vanishes. Restart policies key on the exit
code (compose's `restart: on-failure` brings back anything but 0):

    exit  ending
    0     FINISHED: every round ran
    1     FAILED: the server reported that the run failed (its reason on stderr)
    2     refused: a token, protocol version or setting the server rejects; a retry
          with the same flags would be refused again
    75    EX_TEMPFAIL: the run was interrupted, or no server answered within
          --connect-timeout; start the client again later
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import grpc

from client.config import ClientConfig
from common.proto import signfed_pb2 as pb

EXIT_FINISHED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_TEMPFAIL = 75  # sysexits.h's EX_TEMPFAIL: "try again later"

# Status codes that refuse this client for good (exit 2): credentials, settings, its
# name or id, a full cohort. Any other code that ends the client is a run-time failure.
REFUSALS = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class StreamEnded(ConnectionError):
    """The server closed our stream without a Stop."""


class Interrupted(ConnectionError):
    """The server stopped the run without finishing it; a resumed server continues it."""


class RunFailed(RuntimeError):
    """The server ended the run with FAILED: rejoining cannot help."""


class ServerGone(ConnectionError):
    """No server within --connect-timeout: the run may go on later (exit 75)."""


class Rejoin(NamedTuple):
    level: int  # logging level of the line that says why
    why: str


def check_stop(stop: pb.Stop) -> None:
    """Return for a FINISHED run; raise RunFailed or Interrupted for the others."""
    if stop.outcome == pb.FINISHED:
        return
    if stop.outcome == pb.FAILED:
        raise RunFailed(stop.reason)
    raise Interrupted(f"the server stopped the run: {stop.reason}")


def rejoin_reason(exc: BaseException, *, joined: bool) -> Rejoin | None:
    """Why a new Join may cure `exc`, or None when the error is final.

    `joined`: the failure came after a successful Join, on FetchModel or Train. There
    FAILED_PRECONDITION means a newer Join under our name took our session; on Join
    itself it is final (a protocol version or batch size this server refuses)."""
    if isinstance(exc, StreamEnded):
        return Rejoin(logging.INFO, f"lost the server ({exc})")
    if isinstance(exc, Interrupted):
        return Rejoin(logging.WARNING, str(exc))
    if not isinstance(exc, grpc.RpcError):
        return None
    code, details = exc.code(), exc.details()  # type: ignore[attr-defined]
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return Rejoin(logging.INFO, f"lost the server ({code.name}: {details})")
    if code == grpc.StatusCode.ABORTED:  # replaced by a newer Join, or our name is in use
        return Rejoin(logging.WARNING, f"the server aborted the call ({details})")
    if code == grpc.StatusCode.FAILED_PRECONDITION and joined:
        return Rejoin(logging.WARNING, f"our session was replaced ({details})")
    return None


def gave_up(config: ClientConfig, because: str) -> str:
    """The one line a client that waited --connect-timeout in vain ends with.

    `because`: why it lost the server it had, or "" when none ever answered."""
    waited = f"{config.connect_timeout_s:.0f}s"
    if because:
        return f"gave up on the parameter server at {config.server} after {waited}: {because}"
    # A failed TLS handshake looks the same from here: no server ever answered.
    tls = ", --tls-ca and --tls-server-name" if config.tls_ca else ""
    return (
        f"no parameter server answered at {config.server} within {waited} "
        f"(check --server{tls} and that it runs)"
    )
