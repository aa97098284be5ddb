"""signSGD-FD (Park & Lee, ICML 2024): signs up, IT-signSGD's weighted vote with pooled
warm-up weights, weights clipped to +-M and the final layer by plain majority
(common/aggregators/fd.py), decided signs down."""

from __future__ import annotations

from common.aggregators import Aggregator
from common.aggregators.fd import FDVote
from common.algorithms.base import register
from common.algorithms.signs import SignAlgorithm
from common.codecs import Layout
from common.config import AggregatorConfig, ConfigError, RunConfig


@register
class SignSGDFD(SignAlgorithm):
    name = "fd"
    label = "signSGD-FD (fd)"
    colour = "tab:green"
    summary = "signSGD-FD: LLR weights, pooled in warm-up, clipped to +-M; last layer by majority"

    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        return FDVote(num_coords, config, layout)

    def check(self, run: RunConfig) -> None:
        super().check(run)
        agg = run.aggregator
        if agg.pooled:
            raise ConfigError(
                "--pooled is llr's: --algorithm fd pools its weights during the warm-up "
                "and weighs per coordinate after it"
            )
        if agg.abstentions == "skip":
            raise ConfigError(
                "--abstentions skip is llr's: --algorithm fd counts an abstention as a "
                "disagreement (the authors' rule); drop --abstentions"
            )
