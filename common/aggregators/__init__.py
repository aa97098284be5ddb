"""Aggregators: a round's rows in, the decided row out (the server's half of an
algorithm; common/algorithms declares which one each algorithm uses)."""

from common.aggregators.base import Aggregator

__all__ = ["Aggregator"]
