import pytest

from common.batch_plan import batch_sizes_for, parse_batch_sizes
from common.config import AggregatorConfig, ConfigError, RunConfig, WireConfig
from signfed import options
from signfed.cli import build_parser


def test_batch_modes_total_960_for_15_clients() -> None:
    for mode in (1, 2, 3, 4):
        sizes = batch_sizes_for(mode, 15)
        assert len(sizes) == 15 and sum(sizes) == 960
    assert batch_sizes_for(4, 15).count(4) == 14


def test_batch_mode_needs_15_clients() -> None:
    with pytest.raises(ConfigError, match="--clients 15"):
        batch_sizes_for(4, 3)


def test_parse_batch_sizes() -> None:
    assert parse_batch_sizes("4,4,904", 3) == (4, 4, 904)
    assert parse_batch_sizes("8", 2) == (8, 8)
    with pytest.raises(ConfigError, match="lists 2 sizes for --clients 3"):
        parse_batch_sizes("4,4", 3)
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_batch_sizes("4,x", 2)


def test_default_model_follows_dataset() -> None:
    assert RunConfig(dataset="mnist").model == "net"
    assert RunConfig(dataset="digits").model == "mlp"


@pytest.mark.parametrize(
    "build,flag",
    [
        (lambda: RunConfig(dataset="cifar"), "--dataset"),
        (lambda: RunConfig(rounds=0), "--rounds"),
        (lambda: AggregatorConfig(forgetting=1.5), "--forgetting"),
        (lambda: AggregatorConfig(eps=0), "--eps"),
        (lambda: WireConfig(chunk_bytes=1 << 20, max_message_bytes=1 << 20), "--max-message"),
    ],
)
def test_invalid_values_name_the_flag(build, flag) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=flag):
        build()


def test_run_flags_round_trip() -> None:
    argv = [
        "local",
        "--dataset",
        "mnist",
        "--clients",
        "15",
        "--rounds",
        "7",
        "--lr",
        "0.002",
        "--algorithm",
        "mv",
        "--forgetting",
        "0.99",
        "--pooled",
        "--chunk-bytes",
        "4096",
    ]
    args = build_parser().parse_args(argv)
    run, wire = options.run_config(args), options.wire_config(args)
    again = build_parser().parse_args(["server", *options.run_flags(run, wire)])
    assert options.run_config(again) == run
    assert options.wire_config(again) == wire


def test_environment_feeds_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNFED_ROUNDS", "42")
    monkeypatch.setenv("SIGNFED_ALGORITHM", "mv")
    args = build_parser().parse_args(["server"])
    assert options.run_config(args).rounds == 42
    assert options.run_config(args).aggregator.algorithm == "mv"


def test_server_batch_plan() -> None:
    from common.batch_plan import plan_batch_sizes
    from common.config import RunConfig

    assert plan_batch_sizes(0, "", 3) == ()
    assert plan_batch_sizes(0, "8", 2) == (8, 8)
    assert plan_batch_sizes(4, "", 15)[-1] == 904
    with pytest.raises(ConfigError, match="not both"):
        plan_batch_sizes(4, "8", 15)
    run = RunConfig(num_clients=3, batch_sizes=(4, 4, 904))
    assert [run.batch_size_for(i) for i in range(3)] == [4, 4, 904]
    assert RunConfig(num_clients=3).batch_size_for(2) == 64
    with pytest.raises(ConfigError, match="lists 2 sizes for --clients 3"):
        RunConfig(num_clients=3, batch_sizes=(4, 4))
