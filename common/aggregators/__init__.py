"""Aggregators: packed sign votes in, packed decision out. Pick one by name.

create_aggregator(config, num_coords)  ->  Aggregator   ("mv" or "llr")
"""

from common.aggregators import llr, mv  # noqa: F401  (importing registers them)
from common.aggregators.base import Aggregator, available, create_aggregator, register

__all__ = ["Aggregator", "available", "create_aggregator", "register"]
