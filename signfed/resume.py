"""`signfed server --resume DIR`: the settings a resumed server runs with.

- The run settings are the checkpoint's. Run flags given again (on the command line
  or as SIGNFED_* variables) must agree with them; the others need not be given.
- The server settings (host, port, deadline, wire limits...) are the checkpoint's where
  none is given; a given one wins, and the change is logged (server/settings.py).
- Security settings must be given again, the same (server/settings.py).
- An asynchronous run's settings (--async ...) are the checkpoint's where none is given;
  given ones must agree with it (server/checkpoint_checks.py).

"Given" means present on the command line or in the environment, whatever its value:
`--checkpoint-every 50` overrides a checkpoint's 10 even though 50 is the default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence, Set
from dataclasses import replace

from common import flags
from common.async_config import AsyncConfig
from common.config import ConfigError, RunConfig, WireConfig, config_differences
from server.checkpoints import read_checkpoint
from server.config import ServerConfig
from server.settings import resumed_serving
from signfed import options


def resumed_config(config: ServerConfig, args: argparse.Namespace, given: Set[str]) -> ServerConfig:
    """`config` (from `args`) completed from the checkpoint in config.out_dir; `given`:
    the destinations of the flags given (given_dests)."""
    ckpt, theirs = read_checkpoint(config.out_dir)
    run = _resumed_run(config.out_dir, theirs, args, given)
    # Run flags name no ServerConfig field: all of `given` can go.
    serving_given = server_fields(given)
    asynchrony = config.asynchrony  # given flags stand (the checkpoint's checks compare)
    saved = ckpt.meta.get("asynchrony")
    if saved and not any(f.startswith("asynchrony.") for f in serving_given):
        try:
            asynchrony = AsyncConfig(**saved)
        except (TypeError, ConfigError) as exc:
            raise ConfigError(f"--resume {config.out_dir}: asynchrony: {exc}") from None
    resumed = replace(config, run=run, asynchrony=asynchrony)
    return resumed_serving(resumed, ckpt.meta.get("server"), serving_given)


def server_fields(dests: Iterable[str]) -> set[str]:
    """The ServerConfig fields (nested ones dotted) that flags `dests` set, as the
    fields' metadata declares them; an option that is no field stays as it is."""
    field_of = flags.field_paths(ServerConfig)
    return {field_of.get(dest, dest) for dest in dests}


def given_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations that `argv` or a SIGNFED_* variable sets, whatever the value:
    `--port 50051` is given even though 50051 is the default. `parser` is spent (its
    defaults are suppressed, so a parse yields only what the command line holds)."""
    actions = _suppress_defaults(parser)
    given = set(vars(parser.parse_args(list(argv)))) & {action.dest for action in actions}
    for action in actions:
        if any(
            flags.env_name(flag) in os.environ for flag in action.option_strings if flag[:2] == "--"
        ):
            given.add(action.dest)
    return given


def _suppress_defaults(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of `parser` and its subcommands, each now without a default."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _suppress_defaults(sub)
        elif action.option_strings:
            action.default = argparse.SUPPRESS
            found.append(action)
    return found


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    options.add_run_options(parser)
    options.add_wire_options(parser)  # run_flags emits the wire flags too
    return parser


def _resumed_run(
    out_dir: str, theirs: RunConfig, args: argparse.Namespace, given: Set[str]
) -> RunConfig:
    """The checkpoint's run settings, with the run flags given laid over them: these
    must change nothing."""
    parser = _run_parser()
    run_dests = {a.dest for a in parser._actions if a.option_strings}
    ours = given & run_dests & set(vars(args))
    if not ours:
        return theirs
    merged = parser.parse_args(options.run_flags(theirs, WireConfig()))
    for dest in ours:
        setattr(merged, dest, getattr(args, dest))
    # The two ways to give per-client batch sizes exclude each other: one given
    # replaces the checkpoint's other.
    if "batch_mode" in ours and "batch_sizes" not in ours:
        merged.batch_sizes = ()
    if "batch_sizes" in ours and "batch_mode" not in ours:
        merged.batch_mode = 0
    differ = config_differences(options.run_config(merged), theirs)
    if differ:
        raise ConfigError(
            f"--resume {out_dir}: the checkpoint was made with other settings "
            f"({', '.join(differ)}); drop those flags or give the checkpoint's values"
        )
    return theirs
