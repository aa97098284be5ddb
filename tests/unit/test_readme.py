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


def test_every_cli_option_is_in_the_readme() -> None:
    parser = build_parser()
    text = README.read_text()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = {
        f"signfed {name} {flag}"
        for name, sub in subparsers.choices.items()
        for flag in _options(sub)
        if f"`{flag}" not in text
    }
    assert not missing, f"README.md does not document: {sorted(missing)}"
    assert "make run" in text and "make test" in text
