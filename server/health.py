"""The standard `grpc.health.v1` service beside Status, for load balancers and probes
that speak it: SERVING from the moment the server listens, NOT_SERVING once the run is
done (or the server stops). Like Status it needs no token (server/auth.py)."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio

from common.proto import signfed_pb2 as pb

_HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
HEALTH_METHODS = frozenset(f"/{_HEALTH.full_name}/{method.name}" for method in _HEALTH.methods)
# "" is the whole server (what `grpc_health_probe` asks by default); the other the service.
SERVICES = ("", pb.DESCRIPTOR.services_by_name["ParameterServer"].full_name)


class RunHealth:
    """Adds the health service to `server` (before it starts); `watch` after it starts."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.servicer = aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        self._server = server
        self._watcher: asyncio.Task[None] | None = None

    async def watch(self, done: asyncio.Event) -> None:
        """SERVING now; NOT_SERVING, for good, when `done` is set or the server stops."""
        for service in SERVICES:
            await self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._watcher = asyncio.ensure_future(self._not_serving_after(done))

    async def _not_serving_after(self, done: asyncio.Event) -> None:
        finished = asyncio.ensure_future(done.wait())
        # Shielded: cancelling grpc's wait_for_termination cancels the future the
        # server's own stop() awaits.
        stopped = asyncio.shield(self._server.wait_for_termination())
        try:
            await asyncio.wait([finished, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            stopped.cancel()
        await self.servicer.enter_graceful_shutdown()
