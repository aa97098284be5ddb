"""The server process's limits on connections and file descriptors.

Every TCP connection costs the server a file descriptor, and so do its own files
(checkpoints, metrics, summary). Connections that send nothing must never use up the
descriptors a checkpoint needs, so:
- the soft open-file limit is raised to the hard limit at start (a common default soft
  limit is 1024, far below what a cohort plus stragglers and scanners can open);
- gRPC accepts at most `limit - FD_RESERVE` connections: the reserve is for the
  server's own files, the listening socket and gRPC's internal pipes;
- a connection that has not finished its HTTP/2 (and TLS) handshake within
  HANDSHAKE_TIMEOUT_S, or that carries no call for IDLE_CONNECTION_S, is closed.
  Clients always hold their Train stream open, so only connections that never joined
  (or whose client left) are idle.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

FD_RESERVE = 64  # descriptors kept for files and gRPC internals, beyond connections
HANDSHAKE_TIMEOUT_S = 10.0  # a silent TCP connection is closed after this long
IDLE_CONNECTION_S = 60.0  # a connection with no call at all is closed after this long


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("open-file limit raised from %d to %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:  # e.g. a container that forbids it
            log.warning("could not raise the open-file limit above %d: %s", soft, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def max_connections(open_file_limit: int) -> int:
    """Connections gRPC may accept under `open_file_limit` descriptors."""
    return max(16, open_file_limit - FD_RESERVE)


def server_options(open_file_limit: int) -> list[tuple[str, int]]:
    """gRPC server options that bound what idle or hostile connections can hold."""
    return [
        # Linux gRPC sets SO_REUSEPORT by default: a second server on the same port
        # would bind "successfully" and split the clients between two runs.
        ("grpc.so_reuseport", 0),
        ("grpc.max_allowed_incoming_connections", max_connections(open_file_limit)),
        ("grpc.server_handshake_timeout_ms", int(HANDSHAKE_TIMEOUT_S * 1000)),
        ("grpc.max_connection_idle_ms", int(IDLE_CONNECTION_S * 1000)),
    ]
