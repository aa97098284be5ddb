"""The README documents every command-line option (the README must stay true)."""

from __future__ import annotations

import argparse
from pathlib import Path

from signfed.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    }


def _commands(parser: argparse.ArgumentParser, prefix: str) -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command by its full name, nested ones included."""
    found = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, f"{prefix} {name}")
    return found


def test_every_cli_option_is_in_the_readme() -> None:
    text = README.read_text()
    commands = _commands(build_parser(), "signfed")
    assert "signfed experiment batch-modes" in commands
    missing = {
        f"{name} {flag}"
        for name, sub in commands.items()
        for flag in _options(sub)
        if f"`{flag}" not in text
    }
    assert not missing, f"README.md does not document: {sorted(missing)}"
    assert "make run" in text and "make test" in text
