"""Either coordinator, as the servicer, the streams and the app see them: rounds
(server/coordinator.py) or asynchronous updates (server/async_coordinator.py)."""

from __future__ import annotations

from server.async_coordinator import AsyncCoordinator
from server.coordinator import RoundCoordinator

Coordinator = RoundCoordinator | AsyncCoordinator
