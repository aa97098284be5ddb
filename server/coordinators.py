"""Every coordinator, as the servicer, the streams and the app see them: rounds
(server/coordinator.py), asynchronous updates (server/async_coordinator.py) or split
learning (server/split_coordinator.py); which one a ServerConfig gets, and the summary
each run ends with."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict
from typing import Any

from common.codecs import get_codec
from common.config import RunConfig
from common.data import Dataset
from common.shards import client_shards
from common.split_config import SPLIT, activation_encoding, gradient_encoding
from server.async_coordinator import AsyncCoordinator
from server.checkpoints import Checkpointing
from server.config import ServerConfig
from server.coordinator import RoundCoordinator
from server.engine import RoundEngine
from server.master import MasterModel
from server.membership import Membership
from server.metrics import MetricsSink
from server.split_coordinator import SplitCoordinator
from server.split_records import split_summary
from server.split_rounds import SplitRounds
from server.summary import summary_fields

Coordinator = RoundCoordinator | AsyncCoordinator | SplitCoordinator


def examples_of(run: RunConfig, dataset: Dataset) -> Callable[[int], int]:
    """client id -> the examples it holds: the server knows the split, not the data."""
    sizes = client_shards(run, dataset.train_y.numpy(), None, run.dataset).sizes  # one pass

    def examples(client_id: int) -> int:
        return int(sizes[client_id])

    return examples


def row_weights(
    engine: RoundEngine, membership: Membership, dataset: Dataset
) -> Callable[[int], float]:
    """client id -> the weight of its row, as the run's algorithm defines it."""
    examples = examples_of(engine.run, dataset)

    def weight_of(client_id: int) -> float:
        batch = membership.batch_size_of(client_id)
        return engine.algorithm.row_weight(batch, examples(client_id))

    return weight_of


def build_coordinator(
    config: ServerConfig,
    *,
    master: MasterModel,
    dataset: Dataset,
    membership: Membership,
    metrics: MetricsSink,
    checkpointing: Checkpointing,
    work_executor: Executor,
    eval_executor: Executor,
) -> Coordinator:
    run = config.run
    if run.aggregator.algorithm == SPLIT:  # minibatch exchanges, not round algorithms
        codecs = (get_codec(activation_encoding(run)), get_codec(gradient_encoding(run)))
        rounds = SplitRounds(
            run, dataset, layer=config.split.layer_for(run.model), variant=config.split.variant,
            codecs=codecs, examples_of=examples_of(run, dataset),
        )  # fmt: skip
        return SplitCoordinator(
            run=run, wire=config.wire, master=master, rounds=rounds,
            batch_size_of=membership.batch_size_of, metrics=metrics,
            work_executor=work_executor, eval_executor=eval_executor,
        )  # fmt: skip
    # an encoding the algorithm cannot send fails here
    engine = RoundEngine(run, master.num_params, master.layout)
    if config.asynchrony.enabled:  # no rounds: every update applied as it arrives
        return AsyncCoordinator(
            run=run, wire=config.wire, master=master, engine=engine, metrics=metrics,
            asynchrony=config.asynchrony, vote_executor=work_executor,
            eval_executor=eval_executor, checkpointing=checkpointing,
        )  # fmt: skip
    return RoundCoordinator(
        run=run,
        wire=config.wire,
        master=master,
        engine=engine,
        # Each row weighs by the examples behind it: the batch size its client trains
        # with, or (FedAvg) the examples the client holds.
        weight_of=row_weights(engine, membership, dataset),
        metrics=metrics,
        vote_executor=work_executor,
        eval_executor=eval_executor,
        round_deadline_s=config.round_deadline_s,
        quorum=config.quorum,
        checkpointing=checkpointing,
    )


def summary_of(coordinator: Coordinator, config: ServerConfig) -> dict[str, Any]:
    """summary.json's fields for the run `coordinator` ran."""
    common: dict[str, Any] = {
        "runner": "server",
        "run": config.run,
        "rounds": coordinator.round,
        "model_digest": coordinator.master.digest,
        "wall_seconds": coordinator.elapsed(),
        "error": coordinator.failed,
        "replica_digests": coordinator.final_digests,
        "replicas_identical": coordinator.replicas_identical(),
    }
    if isinstance(coordinator, SplitCoordinator):
        rounds = coordinator.rounds
        names = (rounds.codecs[0].name, rounds.codecs[1].name)
        return split_summary(cut=rounds.cut, encodings=names, **common)
    fields = summary_fields(engine=coordinator.engine, **common)
    if isinstance(coordinator, AsyncCoordinator):  # as the simulation writes them
        asynchrony = asdict(coordinator.asynchrony)
        fields |= {"asynchrony": asynchrony, "clock": None, "versions": coordinator.model.version}
    return fields
