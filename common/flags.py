"""Flags, SIGNFED_* variables and --config files, generated from the config dataclasses.

A setting is declared once, as a dataclass field whose metadata (`setting(...)`) names
its flag and says what it does; everything else is derived from that field:

- `add_flags(group, cls)`: one argparse option per field of `cls`, whose default is the
  field's default, or $SIGNFED_<FLAG> when set (`--batch-size` <- SIGNFED_BATCH_SIZE);
- `build(cls, namespace)`: the dataclass back from parsed options (nested ones too);
- `to_argv(config)`: options that rebuild `config` (a launcher starting a child);
- `file_values(data, cls)`: a --config file's values, keyed by option destination.

Precedence, lowest first: the field's default < a --config file < the environment <
the command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any

_META = "signfed.flag"


@dataclass(frozen=True)
class Flag:
    """How one config field appears on the command line."""

    name: str  # "--lr"; the variable is SIGNFED_LR, the destination "lr"
    help: str
    parse: Callable[[str], Any] | None = None  # text -> value; None: the default's type
    show: Callable[[Any], str] | None = None  # value -> text, the inverse of parse
    # the allowed values, or a function that names them when asked (a registry that
    # --plugin grows: common/registry.py)
    choices: tuple[Any, ...] | Callable[[], Sequence[Any]] | None = None
    # A field set by a command's own option rather than a generated one (`--resume DIR`
    # sets ServerConfig.resume): that option's name; `name` is then "".
    set_by: str = ""

    @property
    def dest(self) -> str:
        return dest_of(self.name or self.set_by)

    def allowed(self) -> tuple[Any, ...] | None:
        """The choices as they are now."""
        return tuple(self.choices()) if callable(self.choices) else self.choices


def setting(
    default: Any = MISSING,
    *,
    flag: str = "",
    help: str = "",
    parse: Callable[[str], Any] | None = None,
    show: Callable[[Any], str] | None = None,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
    set_by: str = "",
    default_factory: Any = MISSING,
) -> Any:
    """A dataclass field with its flag: `rounds: int = setting(100, flag="--rounds", ...)`."""
    allowed = choices if callable(choices) else tuple(choices) if choices else None
    meta = Flag(flag, help, parse, show, allowed, set_by)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={_META: meta})
    return field(default=default, metadata={_META: meta})


def dest_of(flag: str) -> str:
    """--some-flag -> some_flag, argparse's destination."""
    return flag.lstrip("-").replace("-", "_")


def env_name(flag: str) -> str:
    """--some-flag -> SIGNFED_SOME_FLAG, the variable that sets its default."""
    return "SIGNFED_" + dest_of(flag).upper()


def env_default(flag: str, default: Any) -> Any:
    """The default of --some-flag: $SIGNFED_SOME_FLAG when set (argparse parses it)."""
    return os.environ.get(env_name(flag), default)


def is_true(text: str) -> bool:
    """A switch's variable: SIGNFED_POOLED=1 (or true, yes, on) turns --pooled on."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def int_tuple(text: str) -> tuple[int, ...]:
    """'4,4,904' -> (4, 4, 904)."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def word_tuple(text: str) -> tuple[str, ...]:
    """'a, b' -> ('a', 'b')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def joined(values: tuple[object, ...]) -> str:
    """The inverse of int_tuple and word_tuple."""
    return ",".join(map(str, values))


def flag_of(f: Field[Any]) -> Flag | None:
    meta = f.metadata.get(_META)
    return meta if isinstance(meta, Flag) else None


def nested_class(f: Field[Any]) -> type | None:
    """The dataclass of a nested config field (RunConfig.aggregator), else None."""
    factory = f.default_factory
    return factory if isinstance(factory, type) and is_dataclass(factory) else None


def leaves(cls: type, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Field[Any]]]:
    """Every non-nested field of `cls` and of its nested configs, with its path."""
    for f in fields(cls):
        inner = nested_class(f)
        if inner is not None:
            yield from leaves(inner, (*path, f.name))
        else:
            yield (*path, f.name), f


def field_paths(cls: type) -> dict[str, str]:
    """Option destination -> the dotted field it sets ('keepalive' -> 'wire.keepalive_s')."""
    return {flag.dest: ".".join(path) for path, f in leaves(cls) if (flag := flag_of(f))}


def _parser_of(flag: Flag, default: Any) -> Callable[[str], Any]:
    if flag.parse is not None:
        parse = flag.parse

        def convert(text: str) -> Any:  # argparse shows an ArgumentTypeError's message
            try:
                return parse(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        return convert
    kind = type(default)
    if kind not in (int, float, str):
        raise TypeError(f"{flag.name}: a {kind.__name__} setting needs parse=")
    return kind


def show(flag: Flag, value: Any) -> str:
    """`value` as the text of `flag` (what parse reads back)."""
    if flag.show is not None:
        return flag.show(value)
    return repr(value) if isinstance(value, float) else str(value)


def field_default(f: Field[Any]) -> Any:
    """The default a field declares (before __post_init__ resolves it)."""
    return f.default_factory() if f.default_factory is not MISSING else f.default


def add_flags(
    group: Any,
    cls: type,
    *,
    skip: Sequence[str] = (),
    only: Sequence[str] | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """An option for each flagged field of `cls` itself (not its nested configs): those
    named in `only` (default: all), but those in `skip`; `choices` narrows a field's
    choices for this command."""
    for f in fields(cls):
        flag = flag_of(f)
        if flag is None or not flag.name or f.name in skip or (only and f.name not in only):
            continue
        default = field_default(f)
        shown = os.environ.get(env_name(flag.name)) or show(flag, default) or "none"
        text = f"{flag.help} (default: {shown})".replace("%", "%%")
        if isinstance(default, bool):
            if default:
                raise TypeError(f"{flag.name}: a switch (store_true) must default to off")
            group.add_argument(
                flag.name, action="store_true", default=is_true(env_default(flag.name, "")),
                help=flag.help,
            )  # fmt: skip
            continue
        narrowed = (choices or {}).get(f.name, flag.allowed())
        group.add_argument(
            flag.name,
            type=_parser_of(flag, default),
            default=env_default(flag.name, default),
            choices=tuple(narrowed) if narrowed is not None else None,
            help=text,
        )


def build(cls: type, namespace: argparse.Namespace, **values: Any) -> Any:
    """`cls` from parsed options; `values` (field names of `cls`) win; a field with no
    option in `namespace` keeps its default."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        flag, inner = flag_of(f), nested_class(f)
        if f.name in values:
            kwargs[f.name] = values[f.name]
        elif inner is not None:
            kwargs[f.name] = build(inner, namespace)
        elif flag is not None and flag.name and hasattr(namespace, flag.dest):
            kwargs[f.name] = getattr(namespace, flag.dest)
    return cls(**kwargs)


def to_argv(config: Any, *, skip: Sequence[str] = ()) -> list[str]:
    """Options that rebuild `config` (its nested configs too), but the fields in `skip`."""
    argv: list[str] = []
    for path, f in leaves(type(config)):
        flag = flag_of(f)
        if flag is None or not flag.name or f.name in skip:
            continue
        value: Any = config
        for name in path:
            value = getattr(value, name)
        if isinstance(value, bool):
            argv += [flag.name] if value else []
        else:
            argv += [flag.name, show(flag, value)]
    return argv


def file_values(data: Mapping[str, Any], cls: type, where: str = "") -> dict[str, Any]:
    """A --config file's settings for `cls`, by option destination: keys are field names,
    a nested config is a table ("aggregator": {...}); RunConfig's own fields may stand at
    the top. ConfigError naming the first key that is not a setting or whose value is
    not one."""
    found: dict[str, Any] = {}
    by_name = {f.name: f for f in fields(cls)}
    run = nested_class(by_name["run"]) if "run" in by_name else None
    for key, value in data.items():
        name = f"{where}{key}"
        f = by_name.get(key)
        if f is None:
            if run is None or key not in _names(run):
                raise _error(f"{name}: not a setting of this command{_table_of(cls, key)}")
            found |= file_values({key: value}, run, where)
            continue
        inner = nested_class(f)
        if inner is not None:
            if not isinstance(value, Mapping):
                raise _error(f"{name}: expected a table of settings, got {value!r}")
            found |= file_values(value, inner, f"{name}.")
            continue
        flag = flag_of(f)
        if flag is None or not flag.name:
            raise _error(f"{name}: not a setting of this command")
        found[flag.dest] = _file_value(name, flag, field_default(f), value)
    return found


def _error(message: str) -> ValueError:
    """common.config's ConfigError (imported late: common.config imports this module)."""
    from common.config import ConfigError as error

    return error(message)


def _table_of(cls: type, key: str) -> str:
    """A hint for a nested setting given at the top: ' (it goes in the "wire" table)'."""
    for path, _ in leaves(cls):
        if path[-1] == key and len(path) > 1:
            table = ".".join(p for p in path[:-1] if p != "run")
            return f' (it goes in the "{table}" table)' if table else ""
    return ""


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _file_value(name: str, flag: Flag, default: Any, value: Any) -> Any:
    """`value` from a file, in the field's type (via its text, as a flag would give it)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _error(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool | Mapping) or (
        isinstance(value, list) and not isinstance(default, tuple)
    ):
        raise _error(f"{name}: expected a value like {show(flag, default)!r}, got {value!r}")
    if value is None and default is not None:
        raise _error(f"{name}: expected a value like {show(flag, default)!r}, got null")
    if value is None or isinstance(value, list):
        text = show(flag, value if value is None else tuple(value))
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    try:
        parsed = _parser_of(flag, default)(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        kind = {int: "an integer", float: "a number"}.get(type(default), "a string")
        why = exc if flag.parse else f"expected {kind}, got {value!r}"
        raise _error(f"{name}: {why}") from None
    allowed = flag.allowed()
    if allowed is not None and parsed not in allowed:
        raise _error(f"{name}: must be one of {allowed}, got {parsed!r}")
    return parsed
