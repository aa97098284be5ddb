"""The one rule for client names, applied by the server's Join and the client's --name.

A name is 1..64 characters of [A-Za-z0-9._-]. Why so narrow: a name travels in gRPC
metadata (printable ASCII only: a non-ASCII name could join but never authenticate),
in log lines and checkpoints, and it never contains ':', so a `NAME:TOKEN` entry of
--tokens splits at its first ':' without doubt. '' is no name: the server then names
the client client-<id>.
"""

from __future__ import annotations

import string

MAX_NAME_CHARS = 64  # room for a host name plus a suffix; bounds what a Join can store
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
NAME_RULE = f"1..{MAX_NAME_CHARS} characters of A-Z a-z 0-9 . _ -"


def name_problem(name: str) -> str:
    """What is wrong with client name `name`: '' when nothing is (the empty name too)."""
    if len(name) > MAX_NAME_CHARS:
        return f"a client name is {NAME_RULE}; got {len(name)} characters"
    outside = sorted(set(name) - NAME_CHARS)
    if outside:
        # ascii(): the message itself must survive gRPC metadata and any log.
        shown = ", ".join(ascii(ch) for ch in outside[:5])
        return f"a client name is {NAME_RULE}; {ascii(name)} contains {shown}"
    return ""
