"""IT-signSGD (seed paper 001): signs up, the LLR-weighted majority vote decodes them
(common/aggregators/llr.py), decoded signs down."""

from __future__ import annotations

from common.aggregators import Aggregator
from common.aggregators.llr import LLRVote
from common.algorithms.base import register
from common.algorithms.signs import SignAlgorithm
from common.codecs import Layout
from common.config import AggregatorConfig


@register
class ITSignSGD(SignAlgorithm):
    name = "llr"
    label = "IT-signSGD (llr)"
    colour = "tab:blue"
    summary = "IT-signSGD: signs weighted by each client's log-likelihood ratio"

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return LLRVote(num_coords, config)
