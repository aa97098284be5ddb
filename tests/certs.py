"""Test certificates, made by the same script as `make certs` (docker/certs.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docker" / "certs.sh"


def make_certs(directory: Path, *names: str) -> Path:
    """A CA, a server pair and a client pair in `directory` (see docker/certs.sh)."""
    subprocess.run(
        ["sh", str(SCRIPT), str(directory), *names], check=True, capture_output=True, timeout=60
    )
    return directory
