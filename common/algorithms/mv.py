"""signSGD-MV (Bernstein et al. 2018/2019): signs up, a plain majority vote
(common/aggregators/mv.py), the majority's signs down."""

from __future__ import annotations

from common.aggregators import Aggregator
from common.aggregators.mv import MajorityVote
from common.algorithms.base import register
from common.algorithms.signs import SignAlgorithm
from common.codecs import Layout
from common.config import AggregatorConfig


@register
class SignSGDMV(SignAlgorithm):
    name = "mv"
    label = "signSGD-MV (mv)"
    colour = "tab:orange"
    summary = "signSGD with majority vote: every sign counts alike"

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return MajorityVote(num_coords, config)
