"""RunConfig <-> the RunSettings message a Join reply carries: both directions in one
place, so a new run setting cannot reach one side and not the other."""

from __future__ import annotations

import numpy as np

from common.algorithms import get_algorithm
from common.async_config import AsyncConfig
from common.codecs import codec_for_wire, get_codec
from common.config import AggregatorConfig, RunConfig, WireConfig
from common.proto import signfed_pb2 as pb
from common.split_config import SPLIT, SplitConfig, activation_encoding, gradient_encoding


def run_settings(
    run: RunConfig,
    wire: WireConfig,
    num_params: int,
    asynchrony: AsyncConfig | None = None,
    split: SplitConfig | None = None,
) -> pb.RunSettings:
    """What the server announces; the encodings resolved (never the algorithm's ''), and
    of `asynchrony` only its mode (the rest is the server's business)."""
    if run.aggregator.algorithm == SPLIT:
        update, decision = get_codec(activation_encoding(run)), get_codec(gradient_encoding(run))
    else:
        update, decision = get_algorithm(run.aggregator.algorithm).encodings(run)
    split = split if split is not None and run.aggregator.algorithm == SPLIT else None
    return pb.RunSettings(
        algorithm=run.aggregator.algorithm,
        dataset=run.dataset,
        model=run.model,
        num_params=num_params,
        learning_rate=run.learning_rate,
        lr_schedule=run.lr_schedule,
        rounds=run.rounds,
        seed=run.seed,
        digest_every=run.digest_every,
        partition=run.partition,
        num_clients=run.num_clients,
        classes_per_client=run.classes_per_client,
        chunk_bytes=wire.chunk_bytes,
        dirichlet_alpha=run.dirichlet_alpha,
        partition_sizes=run.partition_sizes,
        size_sigma=run.size_sigma,
        size_alpha=run.size_alpha,
        update_encoding=update.wire_id,  # type: ignore[arg-type]
        decision_encoding=decision.wire_id,  # type: ignore[arg-type]
        local_epochs=run.local_epochs,
        local_steps=run.local_steps,
        client_momentum=run.client_momentum,
        weight_decay=run.weight_decay,
        clients_per_round=run.clients_per_round,
        batch_sizes=run.batch_sizes,
        async_mode=asynchrony.mode if asynchrony is not None and asynchrony.enabled else "",
        split_variant=split.variant if split is not None else "",
        cut_layer=split.layer_for(run.model) if split is not None else "",
    )


def split_config_from(settings: pb.RunSettings) -> SplitConfig:
    """The split settings the server announced (defaults for any other run)."""
    if not settings.split_variant:
        return SplitConfig()
    return SplitConfig(variant=settings.split_variant, cut_layer=settings.cut_layer)


def run_config_from(settings: pb.RunSettings) -> RunConfig:
    """The run as the server announced it (what a client trains with)."""
    update_encoding = codec_for_wire(settings.update_encoding).name
    zeros = "abstain" if update_encoding == "ternary" else "coin"
    return RunConfig(
        dataset=settings.dataset,
        model=settings.model,
        num_clients=settings.num_clients,
        rounds=settings.rounds,
        learning_rate=float(np.float32(settings.learning_rate)),
        lr_schedule=settings.lr_schedule or "constant",
        seed=settings.seed,
        partition=settings.partition,
        classes_per_client=settings.classes_per_client,
        dirichlet_alpha=settings.dirichlet_alpha,
        # an older server sends none of the three: its shards were equal
        partition_sizes=settings.partition_sizes or "equal",
        size_sigma=settings.size_sigma or RunConfig.size_sigma,
        size_alpha=settings.size_alpha or RunConfig.size_alpha,
        digest_every=settings.digest_every,
        update_encoding=update_encoding,
        decision_encoding=codec_for_wire(settings.decision_encoding).name,
        local_epochs=settings.local_epochs,
        local_steps=settings.local_steps,
        client_momentum=settings.client_momentum,
        weight_decay=settings.weight_decay,
        clients_per_round=settings.clients_per_round,
        batch_sizes=tuple(settings.batch_sizes),
        # the encoding says how zeros travel: ternary rows are abstaining zeros
        aggregator=AggregatorConfig(algorithm=settings.algorithm, zeros=zeros),
    )
