"""A client's name: the one thing that makes a restarted client the same client.

An explicit --name wins. Otherwise, with --identity-file, the first start generates a
name and writes it there, and every restart reads it back: a replicated container
(one compose service scaled to 15) keeps its writable layer across restarts, so each
replica keeps its own name, and with it its client id and LLR statistics.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

from common.config import ConfigError
from common.names import MAX_NAME_CHARS, name_problem


def client_name(name: str, identity_file: str) -> str:
    """`name`, else the name kept in `identity_file` (created on first use), else ""."""
    if name or not identity_file:
        return name
    path = Path(identity_file)
    if path.exists():
        kept = path.read_text(encoding="utf-8").strip()
        if not kept:
            # A ConfigError: `signfed client` exits 2 with this line, not a traceback.
            raise ConfigError(f"--identity-file {path} is empty: delete it to get a new name")
        if problem := name_problem(kept):
            raise ConfigError(f"--identity-file {path}: {problem}; delete it to get a new name")
        return kept
    generated = generated_name(socket.gethostname(), secrets.token_hex(4))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(generated + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written name behind
    return generated


def generated_name(hostname: str, suffix: str) -> str:
    """`host-suffix` within the name rule (common/names.py): a host name may be 64
    characters, or hold characters a name may not."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", hostname)[: MAX_NAME_CHARS - len(suffix) - 1]
    return f"{host or 'client'}-{suffix}"
