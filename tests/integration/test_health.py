"""The standard grpc.health.v1 service: open to anybody, SERVING while the run goes on,
NOT_SERVING once it is done."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.proto import signfed_pb2 as pb

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "signfed.v1.ParameterServer"


def check(stub: health_pb2_grpc.HealthStub, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return stub.Check(request, timeout=10).status  # type: ignore[no-any-return]


def test_health_needs_no_token(start_server: Any) -> None:
    server = start_server(server={"tokens": ("good-token",)})
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert check(stub, "") == check(stub, SERVICE) == SERVING
        try:
            check(stub, "no.such.Service")
            raise AssertionError("an unknown service answered")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_not_serving_once_the_run_is_done(start_server: Any, raw_client: Any) -> None:
    server = start_server(num_clients=1, rounds=1)
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=60)
        assert next(watch).status == SERVING
        client = raw_client(server.address, "solo")
        client.join()
        client.open()
        assert client.receive().start.round == 0
        client.vote(0)
        decision = client.receive().decision
        assert client.receive().stop.outcome == pb.FINISHED
        client.send(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=decision.model_digest)))
        assert next(watch).status == NOT_SERVING
        assert check(stub, "") == check(stub, SERVICE) == NOT_SERVING
        watch.cancel()
