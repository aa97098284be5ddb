"""One source of configuration: the config dataclasses' fields generate the flags, their
SIGNFED_* variables and --config files (common/flags.py, signfed/options.py)."""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import fields
from importlib import metadata
from pathlib import Path

import pytest

from client.config import ClientConfig
from common import flags
from common.config import AggregatorConfig, RunConfig, WireConfig
from server.config import ServerConfig
from signfed import options
from signfed.cli import build_parser, main, parse
from signfed.experiment_config import BatchModesConfig
from signfed.simulation_config import SimulationConfig

# Each config, with the command whose options set all of its fields.
CONFIGS = {
    AggregatorConfig: "server",
    RunConfig: "server",
    WireConfig: "server",
    ServerConfig: "server",
    ClientConfig: "client",
    SimulationConfig: "simulate",
    BatchModesConfig: "experiment batch-modes",
}


@pytest.fixture(autouse=True)
def _no_signfed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SIGNFED_"):
            monkeypatch.delenv(name)


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {"": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= {f"{name} {k}".strip(): v for k, v in _commands(sub).items()}
    return found


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = _commands(build_parser())[command]
    return {flag: a for a in parser._actions for flag in a.option_strings if flag[:2] == "--"}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_a_flag_and_a_variable_with_its_default(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = _actions(CONFIGS[cls])
    defaults = cls()
    checked = 0
    for f in fields(cls):
        if flags.nested_class(f) is not None:
            continue
        flag = flags.flag_of(f)
        assert flag is not None, f"{cls.__name__}.{f.name} declares no flag"
        if flag.set_by:  # set by a command's own option (--resume DIR, the run's --seed)
            assert flag.set_by in actions
            continue
        action = actions[flag.name]
        assert action.dest == flags.dest_of(flag.name)
        value = flags.field_default(f)  # as declared: '' for the model (the dataset's)
        assert action.default == value, f"{flag.name}: {action.default!r} != {value!r}"
        # Its variable, set to the default's text, gives the default back.
        text = ("1" if value else "0") if isinstance(value, bool) else flags.show(flag, value)
        monkeypatch.setenv(flags.env_name(flag.name), text)
        checked += 1
    assert checked
    built = {
        RunConfig: options.run_config,
        AggregatorConfig: lambda a: options.run_config(a).aggregator,
        WireConfig: options.wire_config,
        ServerConfig: options.server_config,
        ClientConfig: options.client_config,
        SimulationConfig: options.simulation_config,
        BatchModesConfig: options.batch_modes_config,
    }[cls]
    # Every variable set, to the default: the same config as the dataclass's defaults.
    assert built(build_parser().parse_args(CONFIGS[cls].split())) == defaults


def test_defaults_agree_with_the_cli() -> None:
    assert ClientConfig().connect_timeout_s == 60.0  # was 30 in the dataclass, 60 as a flag
    assert ServerConfig().port == 50051  # was 0 in the dataclass, 50051 as a flag
    assert options.server_config(build_parser().parse_args(["server"])) == ServerConfig()
    assert options.client_config(build_parser().parse_args(["client"])) == ClientConfig()


def test_every_option_of_every_command_reads_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGNFED_<FLAG> is the default of --flag on every command that has it."""
    marked: dict[str, object] = {}  # flag -> the default its variable gives
    commands = _commands(build_parser())
    for parser in commands.values():
        for action in parser._actions:
            for flag in action.option_strings:
                if flag in ("--help", "--version") or not flag.startswith("--") or flag in marked:
                    continue
                switch = isinstance(action, argparse._StoreTrueAction)
                value = "1" if switch else str((action.choices or ["7"])[-1])  # type: ignore[index]
                monkeypatch.setenv(flags.env_name(flag), value)
                marked[flag] = True if switch else value
    assert {"--log-level", "--source", "--secret-file", "--report-only", "--config"} <= set(marked)
    checked = 0
    for command, parser in _commands(build_parser()).items():
        for action in parser._actions:
            for flag in action.option_strings:
                if flag in marked:
                    assert action.default == marked[flag], f"signfed {command} {flag} ignores it"
                    assert not action.required
                    checked += 1
    assert checked > 100


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_config_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """defaults < --config file < SIGNFED_* < command line."""
    path = _write(tmp_path, "run.json", json.dumps({
        "rounds": 7, "seed": 3, "learning_rate": 0.002, "batch_sizes": [4, 4, 8], "port": 1234,
        "round_deadline_s": 2.5, "aggregator": {"algorithm": "mv", "pooled": True},
        "wire": {"keepalive_s": 3},
    }))  # fmt: skip
    monkeypatch.setenv("SIGNFED_SEED", "5")
    args = parse(build_parser(), ["server", "--config", path, "--rounds", "9"])
    config = options.server_config(args)
    assert (config.run.rounds, config.run.seed, config.run.learning_rate) == (9, 5, 0.002)
    assert config.run.batch_sizes == (4, 4, 8) and config.run.aggregator.seed == 5
    assert (config.run.aggregator.algorithm, config.run.aggregator.pooled) == ("mv", True)
    assert (config.port, config.round_deadline_s, config.wire.keepalive_s) == (1234, 2.5, 3.0)
    assert config.run.eval_every == RunConfig().eval_every  # not in the file: the default
    assert "port" in args.from_config and "seed" not in args.from_config  # for --resume


def test_toml_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.toml", 'rounds = 5\n[aggregator]\nalgorithm = "sgd"\n')
    config = options.simulation_config(parse(build_parser(), ["simulate", "--config", path]))
    assert (config.run.rounds, config.run.aggregator.algorithm) == (5, "sgd")


@pytest.mark.parametrize(
    "command, data, message",
    [
        ("server", {"roundz": 1}, "roundz: not a setting"),
        ("server", {"aggregator": {"alpha": 1}}, "aggregator.alpha: not a setting"),
        ("server", {"pooled": True}, 'pooled: not a setting .* "aggregator" table'),
        ("server", {"rounds": "ten"}, "rounds: expected an integer, got 'ten'"),
        ("server", {"dataset": "cifar"}, "dataset: must be one of"),
        ("server", {"aggregator": {"pooled": 1}}, "aggregator.pooled: expected true or false"),
        ("simulate", {"port": 1}, "port: not a setting"),
        ("local", {"port": 1}, "port: not a setting of `signfed local`"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, data: dict, message: str
) -> None:
    path = _write(tmp_path, "bad.json", json.dumps(data))
    assert main([command, "--config", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(f"--config {path}: {message}", err), err


def test_to_argv_rebuilds_every_config() -> None:
    run = RunConfig(
        dataset="mnist", batch_sizes=(4, 8, 16), aggregator=AggregatorConfig(pooled=True)
    )
    server = ServerConfig(
        run=run, wire=WireConfig(keepalive_s=2.5), tokens=("a", "b"), round_deadline_s=0.0
    )
    args = build_parser().parse_args(["server", *flags.to_argv(server)])
    assert options.server_config(args) == server
    client = ClientConfig(name="c-1", batch_size=32, connect_timeout_s=2.0, backoff_max_s=1.0)
    assert (
        options.client_config(build_parser().parse_args(["client", *flags.to_argv(client)]))
        == client
    )


def test_resume_knows_which_field_a_flag_sets() -> None:
    paths = flags.field_paths(ServerConfig)
    assert paths["out"] == "out_dir" and paths["keepalive"] == "wire.keepalive_s"
    assert paths["lr"] == "run.learning_rate" and paths["round_deadline"] == "round_deadline_s"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"signfed {metadata.version('signfed')}"
