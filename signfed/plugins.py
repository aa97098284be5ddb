"""--plugin: a person's own file or module that registers algorithms, models, datasets.

A plugin is imported before the command line is parsed (signfed/cli.py's main), so
the names it registers (common/algorithms, common/registry.py) are the parser's
choices, and RunConfig accepts them wherever it is built. How to write one:
docs/extending.md.

    signfed simulate --plugin docs/examples/blobs.py --dataset blobs
    SIGNFED_PLUGIN=a.py:mypackage.plugin signfed server ...

`--plugin PATH_OR_MODULE` repeats; a value may also list several, separated by ':'
(os.pathsep), which is the form SIGNFED_PLUGIN takes. The command line replaces the
variable, as it does for every option. A path (ending in .py, or naming a file) is
imported as a file; anything else as a module on sys.path. `signfed local` hands the
plugins it loaded to the server and clients it starts (`argv`): a client builds its
model and dataset from the names the server announces, so it needs the same plugins.

A plugin that does not load (no such file, an import error, a name that is already
registered) is a usage error: one line naming it, exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from common.config import ConfigError
from common.flags import env_default

FLAG = "--plugin"
# The commands that build a RunConfig (or list the algorithms); the others ignore
# SIGNFED_PLUGIN, so a healthcheck (`signfed status`) never imports a plugin.
COMMANDS = ("server", "client", "local", "simulate", "algorithms")
_loaded: list[str] = []  # resolved: absolute paths, module names; in load order


class _Append(argparse.Action):
    """Each --plugin adds to the list; the first one replaces the variable's."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option: Any = None) -> None:
        current = getattr(namespace, self.dest, None)
        fresh = current is self.default or not isinstance(current, str) or not current
        setattr(namespace, self.dest, value if fresh else f"{current}{os.pathsep}{value}")


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        FLAG,
        action=_Append,
        default=env_default(FLAG, ""),
        metavar="PATH_OR_MODULE",
        help="a Python file or module to import first: the algorithms, models and datasets "
        "it registers become choices (docs/extending.md); repeat it, or separate by ':'",
    )


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def requested(argv: Sequence[str]) -> list[str]:
    """The plugins `argv` asks for: its --plugin values, else SIGNFED_PLUGIN's; none
    for a command that takes no --plugin (its parser then refuses the flag)."""
    if _command(argv) not in COMMANDS:
        return []
    parser = _Quiet(add_help=False)
    add_option(parser)
    known, _ = parser.parse_known_args(list(argv))
    return [spec for spec in str(known.plugin).split(os.pathsep) if spec.strip()]


def _command(argv: Sequence[str]) -> str:
    """The subcommand: the first word that is neither an option nor --log-level's value."""
    words = iter(argv)
    for word in words:
        if len(word) > 2 and "--log-level".startswith(word):  # argparse takes prefixes
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def load(specs: Sequence[str]) -> None:
    """Import each plugin once; ConfigError (one line) for one that does not load."""
    for spec in specs:
        path = Path(spec)
        is_file = spec.endswith(".py") or path.is_file()
        key = str(path.resolve()) if is_file else spec
        if key in _loaded:
            continue
        if is_file and not path.is_file():
            raise ConfigError(f"{FLAG} {spec}: no such file")
        try:
            _import_file(path) if is_file else importlib.import_module(spec)
        except Exception as exc:  # whatever the plugin raised, as one line
            raise ConfigError(f"{FLAG} {spec}: {_where(exc, key)}{_one_line(exc)}") from None
        _loaded.append(key)


def _import_file(path: Path) -> None:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"signfed_plugin_{stem}"
    n = 1
    while name in sys.modules:  # another file of the same name: keep both
        n += 1
        name = f"signfed_plugin_{stem}_{n}"
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: dataclasses and pickle look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _where(exc: Exception, key: str) -> str:
    """'line N: ' of the plugin's own line that raised, when the plugin is a file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == key]
    if isinstance(exc, SyntaxError) and exc.filename == key:
        return ""  # its message names the line already
    return f"line {frames[-1].lineno}: " if frames else ""


def _one_line(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def loaded() -> tuple[str, ...]:
    """The plugins this process imported (absolute paths, module names), in order."""
    return tuple(_loaded)


def argv() -> list[str]:
    """Options that load this process's plugins in a child signfed process."""
    return [word for spec in _loaded for word in (FLAG, spec)]
