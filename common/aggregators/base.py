"""The aggregator interface: the server's half of an algorithm (common/algorithms).

An aggregator has one job: a round's rows in (one per client that sent an update,
in the codec's row form: packed signs for sign1, float32 vectors for dense codecs),
the decided row out. Rows may carry weights (the examples behind each, for a weighted
mean); stateful aggregators (the LLR decoder) hand their statistics to checkpoints
via state_dict(). Bad input raises ValueError with a message a person can act on.
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from common.aggregators.bits import canonical_ternary, clear_padding
from common.codec import packed_size
from common.codecs import Codec, Sign1, get_codec
from common.config import AggregatorConfig


class Aggregator(abc.ABC):
    name: ClassVar[str]
    codec: ClassVar[str] = "sign1"  # the row form it reads (common/codecs.py)
    # sign aggregators read ternary rows instead when zeros abstain (--zeros abstain)
    abstains: ClassVar[bool] = False

    def __init__(self, num_coords: int, config: AggregatorConfig) -> None:
        if num_coords < 1:
            raise ValueError(f"an aggregator needs at least one coordinate, got {num_coords}")
        self.num_coords = num_coords
        self.num_bytes = packed_size(num_coords)
        self.config = config
        self.abstain = self.abstains and config.zeros == "abstain"
        self.row_codec = "ternary" if self.abstain else self.codec

    @abc.abstractmethod
    def aggregate(
        self,
        votes: np.ndarray,
        client_ids: Sequence[int],
        round_index: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """votes: (M, row width), one row per client, in client_ids order (sign1: packed
        (M, ceil(N/8)) uint8); weights: (M,) examples behind each row, for those that
        weigh rows by it. Returns the decided row. Updates internal statistics."""

    def client_state_bytes(self) -> int:
        """Bytes of state each distinct client adds when it first votes (llr's counters)."""
        return 0

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume (checkpoints); stateless aggregators have nothing."""
        return {}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        if state:
            raise ValueError(f"{self.name} keeps no state, got keys {sorted(state)}")

    def client_weight_means(self) -> dict[int, tuple[float, float]]:
        """(mean |weight|, mean weight) per known client, from one pass over its weights
        (the second < 0 where a client's votes get inverted); empty when unweighted."""
        return {}

    def client_weight_summary(self, signed: bool = False) -> dict[int, float]:
        """Mean |weight| (signed: mean weight) per known client, for reports."""
        return {client: pair[signed] for client, pair in self.client_weight_means().items()}

    def check_inputs(
        self, votes: np.ndarray, client_ids: Sequence[int], round_index: int
    ) -> tuple[np.ndarray, list[int]]:
        """Validated (rows: sign1 ones with clean padding, ternary ones canonical; client
        ids as ints) or ValueError."""
        codec: Codec = get_codec(self.row_codec)
        codec.check_rows(votes, self.num_coords)
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
        votes = np.ascontiguousarray(votes)
        if isinstance(codec, Sign1):
            votes = clear_padding(votes, self.num_coords)
        elif self.abstain:
            votes = canonical_ternary(votes, self.num_coords)
        return votes, ids
