"""This signfed's release number (`signfed --version`, and what an old client must
upgrade to): the installed package's, else the source tree's pyproject.toml's."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path


@cache
def release() -> str:
    try:
        return metadata.version("signfed")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
