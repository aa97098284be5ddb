"""Split learning's settings (`--algorithm split`): the variant and the cut layer.

A server setting and the simulation's; clients learn both from RunSettings
(split_variant, cut_layer). The activations travel in --update-encoding and the
gradients at the cut in --decision-encoding (float32 by default; float16 or bfloat16
halve the bytes and lose bit-exactness with centralised training).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import RunConfig
from common.config_error import ConfigError, require
from common.flags import setting
from common.split_model import DEFAULT_CUTS, VARIANTS, cut_layers

SPLIT = "split"  # the --algorithm name: not a round algorithm of common/algorithms
ENCODINGS = ("float32", "float16", "bfloat16")  # what a tensor at the cut may travel in


@dataclass(frozen=True)
class SplitConfig:
    # vanilla: clients in turn, labels go up with the activations (SplitNN);
    # ushaped: clients in turn, the last stage and the labels stay on the client;
    # splitfed: clients in parallel, a server part per client, all averaged each round;
    # splitfed2: clients in parallel, one server part taking their minibatches in turn
    variant: str = setting(
        "vanilla",
        flag="--split-variant",
        help="split: vanilla (clients in turn, labels to the server), ushaped (the last "
        "layer and labels stay on the client), splitfed (clients in parallel, a server "
        "part each, all averaged every round: SFLV1), splitfed2 (one server part for "
        "all, their minibatches in rotation: SFLV2)",
        choices=VARIANTS,
    )
    # empty: the model's default (net: conv2, mlp: fc1, resnet56: layer2)
    cut_layer: str = setting(
        "",
        flag="--cut-layer",
        help="split: the last layer of the client's head (net: conv1, conv2, fc1; "
        "resnet56: stem, layer1, layer2, layer3; mlp: fc1); empty: the model's default",
    )

    def __post_init__(self) -> None:
        require(
            self.variant in VARIANTS,
            f"--split-variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}",
        )

    def layer_for(self, model: str) -> str:
        return self.cut_layer or DEFAULT_CUTS[model]


def check_split_run(split: SplitConfig, run: RunConfig) -> None:
    """ConfigError unless the run's settings make sense together with split learning
    (and split settings are not given to a run that is not split)."""
    if run.aggregator.algorithm != SPLIT:
        require(
            split == SplitConfig(),
            f"--split-variant and --cut-layer are for --algorithm {SPLIT}",
        )
        return
    allowed = cut_layers(run.model, split.variant)
    require(
        bool(allowed),
        f"model {run.model} has too few layers for --split-variant {split.variant}; "
        "use --model net or resnet56",
    )
    layer = split.layer_for(run.model)
    if layer not in allowed:
        raise ConfigError(
            f"--cut-layer {layer!r} does not cut model {run.model} for --split-variant "
            f"{split.variant}; choose one of {', '.join(allowed)}"
        )
    for flag, name in (
        ("--update-encoding", run.update_encoding),
        ("--decision-encoding", run.decision_encoding),
    ):
        require(
            name in ("", *ENCODINGS),
            f"{flag} {name} does not suit --algorithm {SPLIT}; tensors at the cut travel "
            f"as {', '.join(ENCODINGS)}",
        )
    agg = run.aggregator
    require(agg.rule == "mean", f"--rule {agg.rule} is for sgd and fedavg rows, not split")
    require(
        agg.server_optimizer == "sgd",
        f"--server-optimizer {agg.server_optimizer} is FedAvg's; split averages plainly",
    )


def activation_encoding(run: RunConfig) -> str:
    return run.update_encoding or ENCODINGS[0]


def gradient_encoding(run: RunConfig) -> str:
    return run.decision_encoding or ENCODINGS[0]
