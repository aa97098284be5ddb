"""The aggregator interface and the registry of aggregators by name.

An aggregator has one job: packed votes in, packed decision out. Stateful ones
(the LLR decoder) also hand their statistics to checkpoints via state_dict().
Bad input raises ValueError with a message a person can act on; the server maps
ValueError to INVALID_ARGUMENT.
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, TypeVar

import numpy as np

from common.codec import packed_size
from common.config import AggregatorConfig
from common.aggregators.bits import clear_padding


class Aggregator(abc.ABC):
    name: ClassVar[str]

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        if num_coords < 1:
            raise ValueError(f"an aggregator needs at least one coordinate, got {num_coords}")
        self.num_coords = num_coords
        self.num_bytes = packed_size(num_coords)
        self.config = config

    @abc.abstractmethod
    def aggregate(
        self, votes: np.ndarray, client_ids: Sequence[int], round_index: int
    ) -> np.ndarray:
        """votes: (M, ceil(N/8)) uint8, one packed row per voting client, in client_ids order.
        Returns (ceil(N/8),) uint8: the packed decision. Updates internal statistics."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume (checkpoints); stateless aggregators have nothing."""
        return {}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        if state:
            raise ValueError(f"{self.name} keeps no state, got keys {sorted(state)}")

    def client_weight_summary(self) -> dict[int, float]:
        """Mean |weight| per known client, for reports; empty when votes are unweighted."""
        return {}

    def check_inputs(
        self, votes: np.ndarray, client_ids: Sequence[int], round_index: int
    ) -> tuple[np.ndarray, list[int]]:
        """Validated (votes with clean padding, client ids as ints) or ValueError."""
        if not isinstance(votes, np.ndarray) or votes.dtype != np.uint8:
            kind = votes.dtype if isinstance(votes, np.ndarray) else type(votes).__name__
            raise ValueError(f"votes must be a uint8 numpy array of packed signs, got {kind}")
        if votes.ndim != 2 or votes.shape[1] != self.num_bytes:
            raise ValueError(
                f"votes must have shape (M, {self.num_bytes}) for {self.num_coords} "
                f"coordinates, got {votes.shape}"
            )
        if votes.shape[0] == 0:
            raise ValueError("a round needs at least one vote, got none")
        if len(client_ids) != votes.shape[0]:
            raise ValueError(
                f"got {votes.shape[0]} vote rows but {len(client_ids)} client ids; "
                "pass one id per row, in row order"
            )
        try:
            ids = [operator.index(i) for i in client_ids]
        except TypeError:
            raise ValueError(f"client ids must be integers, got {list(client_ids)!r}") from None
        if min(ids) < 0:
            raise ValueError(f"client ids must be >= 0, got {min(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"client ids must be distinct (one vote per client), got {ids}")
        if round_index < 0:
            raise ValueError(f"round_index must be >= 0, got {round_index}")
        return clear_padding(np.ascontiguousarray(votes), self.num_coords), ids


_REGISTRY: dict[str, type[Aggregator]] = {}
A = TypeVar("A", bound=type[Aggregator])


def register(cls: A) -> A:
    """Class decorator: make `cls` available to create_aggregator under `cls.name`."""
    if _REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"aggregator name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> tuple[str, ...]:
    """Names accepted by create_aggregator, sorted."""
    return tuple(sorted(_REGISTRY))


def create_aggregator(config: AggregatorConfig, num_coords: int) -> Aggregator:
    """The aggregator named by config.algorithm, for `num_coords` coordinates."""
    factory: Callable[[int, AggregatorConfig], Aggregator] | None = _REGISTRY.get(config.algorithm)
    if factory is None:
        raise ValueError(
            f"unknown aggregator {config.algorithm!r}; available: {', '.join(available())}"
        )
    return factory(num_coords, config)
