"""Aggregators: packed sign votes in, packed decision out. Pick one by name.

create_aggregator(config, num_coords)  ->  Aggregator   ("mv" or "llr")
"""

from server.aggregators import llr, mv  # noqa: F401  (importing registers them)
from server.aggregators.base import Aggregator, available, create_aggregator, register

__all__ = ["Aggregator", "available", "create_aggregator", "register"]
