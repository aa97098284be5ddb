"""RunConfig -> RunSettings -> RunConfig: what a client trains with is what the server
runs (the server-only settings, such as the aggregator's, aside)."""

from __future__ import annotations

from dataclasses import replace

from common.config import AggregatorConfig, RunConfig, WireConfig
from common.run_settings import run_config_from, run_settings


def test_a_client_gets_every_setting_it_trains_or_attacks_with() -> None:
    run = RunConfig(
        dataset="digits", num_clients=4, rounds=7, learning_rate=0.5, lr_schedule="cosine",
        seed=3, partition="dirichlet", dirichlet_alpha=0.3, batch_sizes=(4, 4, 16, 64),
        local_epochs=2, local_steps=5, client_momentum=0.5, weight_decay=1e-4,
        clients_per_round=3, aggregator=AggregatorConfig(algorithm="fedavg", rule="median"),
    )  # fmt: skip
    received = run_config_from(run_settings(run, WireConfig(), num_params=100))
    # The encodings arrive resolved and the aggregator's settings stay on the server
    # (the lr travels as a float32: 0.5 is one).
    resolved = replace(run, update_encoding="float32", decision_encoding="float32")
    assert replace(received, aggregator=run.aggregator) == resolved
    # Colluding attackers recompute their fellows' updates with the planned batch sizes.
    assert received.batch_size_for(3) == 64
    planless = run_settings(replace(run, batch_sizes=()), WireConfig(), num_params=100)
    assert run_config_from(planless).batch_sizes == ()


def test_skewed_partition_sizes_reach_the_client() -> None:
    for run in (
        RunConfig(partition="iid", partition_sizes="lognormal", size_sigma=0.7),
        RunConfig(partition="classes", partition_sizes="powerlaw", size_alpha=2.5),
    ):
        received = run_config_from(run_settings(run, WireConfig(), num_params=100))
        assert received.partition == run.partition
        assert received.partition_sizes == run.partition_sizes
        assert (received.size_sigma, received.size_alpha) == (run.size_sigma, run.size_alpha)
    # An older server sends none of the three: its shards were equal, with the defaults.
    settings = run_settings(RunConfig(partition="iid"), WireConfig(), num_params=100)
    for name in ("partition_sizes", "size_sigma", "size_alpha"):
        settings.ClearField(name)
    received = run_config_from(settings)
    assert received.partition_sizes == "equal"
    assert (received.size_sigma, received.size_alpha) == (1.0, 1.5)
