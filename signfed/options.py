"""Command-line options -> frozen configs, generated from the configs' fields.

The run, wire, server, client and simulation settings are declared once, as fields of
their dataclasses (common/flags.py): their options, defaults, help and SIGNFED_<FLAG>
variables come from there. This module groups them per command and declares the few
options that are not settings (`--port-file`, `--continue`, `--batch-mode`, ...); those
read SIGNFED_<FLAG> too.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from client.config import ClientConfig
from common import algorithms, flags
from common.async_config import AsyncConfig
from common.attack_config import AttackConfig
from common.batch_plan import plan_batch_sizes
from common.config import AggregatorConfig, ConfigError, RunConfig, WireConfig
from common.flags import env_default, env_name
from common.release import release
from common.split_config import SPLIT, SplitConfig
from server.config import ServerConfig
from signfed.async_experiment_config import AsyncExperimentConfig
from signfed.clock import ClockConfig
from signfed.experiment_config import BatchModesConfig
from signfed.pool_config import PoolConfig
from signfed.robustness_config import RobustnessConfig
from signfed.simulation_config import SimulationConfig

# The configuration a --config file feeds, by command; RunConfig's fields stand at the
# top of the file, nested ones as tables ("aggregator", "wire").
CONFIG_OF: dict[str, type] = {
    "server": ServerConfig,
    "local": ServerConfig,  # the run and wire settings, --out, --data-dir, --overwrite
    "simulate": SimulationConfig,
    "client": ClientConfig,  # its own fields; "wire" as a table
}
_SECURITY = ("tls_cert", "tls_key", "tls_client_ca", "tokens", "tokens_file",
             "token_secret_file")  # fmt: skip
_RELIABILITY = ("checkpoint_every", "overwrite", "round_deadline_s", "quorum")


def _add(group: Any, flag: str, default: Any, help: str, **kwargs: Any) -> None:
    """An option that is not a config field (it still reads SIGNFED_<FLAG>)."""
    group.add_argument(
        flag, default=env_default(flag, default), help=f"{help} (default: %(default)s)", **kwargs
    )


def _add_switch(group: Any, flag: str, help: str, **kwargs: Any) -> None:
    default = flags.is_true(env_default(flag, ""))
    group.add_argument(flag, action="store_true", default=default, help=help, **kwargs)


def _add_required(group: Any, flag: str, help: str) -> None:
    """An option without a default: the command line or SIGNFED_<FLAG> must give it."""
    default = os.environ.get(env_name(flag))
    group.add_argument(flag, default=default, required=default is None, help=help)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training run (the server hands these to every client)")
    flags.add_flags(g, RunConfig)
    _add(
        g,
        "--batch-mode",
        0,
        "the paper's per-client batch sizes for --clients 15 (1: all 64; 2: nine at 4, six "
        "at 154; 3: twelve at 4, three at 304; 4: fourteen at 4, one at 904); 0: none",
        type=int,
    )
    a = parser.add_argument_group("aggregation")
    # The registry's names (common/algorithms): every command runs every algorithm; and
    # split learning, whose minibatch exchange is not a round algorithm's.
    choices = {"algorithm": (*algorithms.available(), SPLIT)}
    flags.add_flags(a, AggregatorConfig, choices=choices)
    flags.add_flags(parser.add_argument_group("split learning (--algorithm split)"), SplitConfig)


def add_attack_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("attacking clients (experiments and tests: common/attacks.py)")
    flags.add_flags(g, AttackConfig)


def attack_config(args: argparse.Namespace) -> AttackConfig:
    return flags.build(AttackConfig, args)  # type: ignore[no-any-return]


def add_wire_options(parser: argparse.ArgumentParser) -> None:
    flags.add_flags(parser.add_argument_group("wire"), WireConfig)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    _add(
        parser,
        "--config",
        "",
        "a JSON or TOML file of settings by field name (aggregator and wire as tables); "
        "the environment and the command line win over it",
    )


def add_server_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("server")
    flags.add_flags(g, ServerConfig, skip=(*_SECURITY, *_RELIABILITY))
    _add(g, "--port-file", "", "write the bound port to this file (for launchers)")
    r = parser.add_argument_group("reliability")
    flags.add_flags(r, ServerConfig, only=_RELIABILITY)
    _add(
        r,
        "--resume",
        "",
        "continue the run checkpointed in this directory (it becomes --out); run "
        "settings come from the checkpoint",
    )
    _add_switch(
        r,
        "--continue",
        "when --out holds an unfinished run's checkpoint, resume it (as --resume "
        "OUT); else start a fresh run: for restart policies (compose) that rerun one command",
        dest="continue_run",
    )
    flags.add_flags(parser.add_argument_group("security (README: Security)"), ServerConfig,
                    only=_SECURITY)  # fmt: skip
    flags.add_flags(parser.add_argument_group("asynchronous training"), AsyncConfig)


def add_overwrite_option(group: Any) -> None:
    flags.add_flags(group, ServerConfig, only=("overwrite",))


def add_client_options(parser: argparse.ArgumentParser) -> None:
    flags.add_flags(parser.add_argument_group("client"), ClientConfig)


def add_simulate_options(parser: argparse.ArgumentParser) -> None:
    flags.add_flags(parser.add_argument_group("simulation"), SimulationConfig)
    g = parser.add_argument_group("asynchronous training (common/staleness.py)")
    flags.add_flags(g, AsyncConfig)
    flags.add_flags(g, ClockConfig)
    g = parser.add_argument_group("where the clients train (signfed/client_pool.py)")
    flags.add_flags(g, PoolConfig)


def add_local_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("local cluster")
    _add(g, "--out", "runs/local", "run directory: metrics, summary, logs")
    _add(
        g,
        "--server-threads",
        0,
        "torch threads for the server (0: 2 for its evaluation; 1 for --algorithm split, "
        "whose server part trains: bits depend on the thread count, and the clients use 1)",
        type=int,
    )
    add_overwrite_option(g)
    flags.add_flags(g, ServerConfig, only=("data_dir",))
    flags.add_flags(parser.add_argument_group("asynchronous training"), AsyncConfig)


def add_token_options(parser: argparse.ArgumentParser) -> None:
    _add_required(parser, "--secret-file", "the server's --token-secret-file")
    _add_required(parser, "--name", "the client's --name")


def add_fetch_options(
    parser: argparse.ArgumentParser, datasets: tuple[str, ...], help: str
) -> None:
    _add(parser, "--dataset", "mnist", "dataset to fetch", choices=datasets)
    _add(parser, "--source", "", help)
    add_data_option(parser)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    _add(parser, "--log-level", "INFO", "logging level")
    parser.add_argument("--version", action="version", version=f"%(prog)s {release()}")


def add_batch_modes_options(parser: argparse.ArgumentParser) -> None:
    add_grid_options(parser, BatchModesConfig)


def add_robustness_options(parser: argparse.ArgumentParser) -> None:
    add_grid_options(parser, RobustnessConfig)


def add_async_experiment_options(parser: argparse.ArgumentParser) -> None:
    add_grid_options(parser, AsyncExperimentConfig)


def add_grid_options(parser: argparse.ArgumentParser, config: type) -> None:
    """A `signfed experiment` grid's options: its configuration's, and --report-only."""
    g = parser.add_argument_group("experiment")
    flags.add_flags(g, config)
    _add_switch(
        g,
        "--report-only",
        "run nothing: rebuild the CSVs, table and figures from the finished runs",
    )


def batch_modes_config(args: argparse.Namespace) -> BatchModesConfig:
    return flags.build(BatchModesConfig, args)  # type: ignore[no-any-return]


def robustness_config(args: argparse.Namespace) -> RobustnessConfig:
    return flags.build(RobustnessConfig, args)  # type: ignore[no-any-return]


def async_experiment_config(args: argparse.Namespace) -> AsyncExperimentConfig:
    return flags.build(AsyncExperimentConfig, args)  # type: ignore[no-any-return]


def add_status_options(parser: argparse.ArgumentParser) -> None:
    reach = ("server", "tls_ca", "tls_cert", "tls_key", "tls_server_name")  # as a client's
    flags.add_flags(parser, ClientConfig, only=reach)
    _add(parser, "--timeout", 5.0, "seconds to wait for an answer", type=float)


def add_data_option(parser: Any) -> None:
    flags.add_flags(parser, ServerConfig, only=("data_dir",))


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of `signfed NAME`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise KeyError(name)


def run_config(args: argparse.Namespace) -> RunConfig:
    sizes = ",".join(map(str, args.batch_sizes))
    return flags.build(
        RunConfig,
        args,
        batch_sizes=plan_batch_sizes(args.batch_mode, sizes, args.clients),
        aggregator=flags.build(AggregatorConfig, args, seed=args.seed),
    )


def wire_config(args: argparse.Namespace) -> WireConfig:
    return flags.build(WireConfig, args)


def server_config(args: argparse.Namespace) -> ServerConfig:
    return flags.build(
        ServerConfig, args, run=run_config(args), out_dir=_out_dir(args), resume=bool(args.resume)
    )


def _out_dir(args: argparse.Namespace) -> str:
    """--resume DIR continues in DIR; an --out pointing elsewhere is a contradiction."""
    if not args.resume:
        return str(args.out)
    if args.out not in (env_default("--out", ServerConfig().out_dir), args.resume):
        raise ConfigError(f"--resume {args.resume} continues in that directory; drop --out")
    return str(args.resume)


def async_config(args: argparse.Namespace) -> AsyncConfig:
    return flags.build(AsyncConfig, args)


def split_config(args: argparse.Namespace) -> SplitConfig:
    return flags.build(SplitConfig, args)  # type: ignore[no-any-return]


def client_config(args: argparse.Namespace) -> ClientConfig:
    name = args.name or (f"client-{args.client_id}" if args.client_id >= 0 else "")
    return flags.build(ClientConfig, args, name=name)


def simulation_config(args: argparse.Namespace) -> SimulationConfig:
    return flags.build(SimulationConfig, args, run=run_config(args))


def run_flags(run: RunConfig, wire: WireConfig) -> list[str]:
    """The inverse of run_config + wire_config: flags that rebuild the same configs."""
    return flags.to_argv(run) + flags.to_argv(wire)


def config_file_values(path: str, command: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """`--config PATH`'s settings for `command` (whose options `parser` holds), by option
    destination, but those a SIGNFED_* variable sets (the environment wins)."""
    where = f"--config {path}"
    try:
        text = Path(path).read_text()
        data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are both
        raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {type(data).__name__}")
    try:
        values = flags.file_values(data, CONFIG_OF[command])
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    known = {action.dest for action in parser._actions}
    for dest in values:
        if dest not in known:
            key = flags.field_paths(CONFIG_OF[command])[dest].removeprefix("run.")
            raise ConfigError(f"{where}: {key}: not a setting of `signfed {command}`")
    return {dest: v for dest, v in values.items() if env_name(dest) not in os.environ}
