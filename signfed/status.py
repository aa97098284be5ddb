"""`signfed status`: ask a parameter server how its run is going.

Used by people and by the compose healthcheck, so it imports neither torch nor the
server: a healthcheck that takes seconds to start is a healthcheck that times out.
"""

from __future__ import annotations

import argparse
import json
import sys

import grpc

from common.config import ConfigError
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.tls import open_channel


def status(
    server: str,
    timeout_s: float,
    *,
    tls_ca: str = "",
    tls_cert: str = "",
    tls_key: str = "",
    tls_server_name: str = "",
) -> pb.StatusReply:
    """Status needs no token; a TLS server needs tls_ca (and, for mutual TLS, a pair)."""
    if not tls_ca and (tls_cert or tls_key or tls_server_name):
        raise ConfigError("--tls-cert, --tls-key and --tls-server-name need --tls-ca")
    channel = open_channel(
        server, (), ca=tls_ca, cert=tls_cert, key=tls_key, server_name=tls_server_name
    )
    with channel:
        return pb_grpc.ParameterServerStub(channel).Status(pb.StatusRequest(), timeout=timeout_s)


def run_status(args: argparse.Namespace) -> int:
    """Print the server's state as one JSON line; exit 1 when it does not answer."""
    try:
        reply = status(
            args.server,
            args.timeout,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_server_name=args.tls_server_name,
        )
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        print(f"signfed status: {args.server}: {code.name}: {exc.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    print(
        json.dumps(
            {
                "state": reply.state,
                "round": reply.round,
                "rounds": reply.rounds,
                "active_clients": reply.active_clients,
                "algorithm": reply.algorithm,
                "last_accuracy": round(reply.last_accuracy, 4),
            }
        )
    )
    return 0
