"""Client tokens: how they travel, how they are derived, how they are read from files.

A client sends two metadata entries on every call: `authorization: Bearer <token>`
and its name in `x-signfed-client`. The server accepts either a token from its list
(`--tokens`, `--tokens-file`), or, with a shared secret (`--token-secret-file`), the
token `client_token(secret, name)` of the name sent: one secret on the server, one
token per client name, printed by `signfed token`, no list to keep in sync.

A list entry `NAME:TOKEN` is good for client NAME only (the client passes TOKEN); a
bare `TOKEN` is a credential of the whole cohort and proves no name.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from common.config import ConfigError
from common.names import name_problem

AUTHORIZATION = "authorization"  # gRPC metadata keys are lower case
CLIENT_NAME = "x-signfed-client"
BEARER = "Bearer "
MIN_SECRET_BYTES = 16  # 128 bits: below that a secret can be guessed offline from one token


def client_token(secret: bytes, name: str) -> str:
    """The token of client `name` under a shared secret: hex HMAC-SHA256(secret, name)."""
    return hmac.new(secret, name.encode("utf-8"), hashlib.sha256).hexdigest()


def call_metadata(token: str, name: str) -> tuple[tuple[str, str], ...]:
    """What a client sends with every call."""
    return ((AUTHORIZATION, BEARER + token), (CLIENT_NAME, name))


def bearer_token(header: str) -> str:
    """'Bearer abc' -> 'abc'; '' for anything else."""
    if header[: len(BEARER)].lower() != BEARER.lower():
        return ""
    return header[len(BEARER) :].strip()


def check_token(token: str, where: str) -> str:
    """A token must survive gRPC metadata: printable ASCII, no spaces."""
    if not token or not all("!" <= ch <= "~" for ch in token):
        raise ConfigError(f"{where}: a token is printable ASCII without spaces, got {token!r}")
    return token


def token_entry(entry: str, where: str) -> tuple[str, str]:
    """A server's list entry -> (the name it is bound to, or '', the token). Names hold
    no ':', so the first ':' ends the name; a token itself may contain more."""
    name, colon, token = entry.partition(":")
    if not colon:
        return "", check_token(entry, where)
    problem = name_problem(name) if name else "the name is empty"
    if problem:
        raise ConfigError(f"{where}: a NAME:TOKEN entry needs a valid name: {problem}")
    return name, check_token(token, where)


def _read_text(path: str, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{flag} {path}: cannot read it ({exc})") from None


def read_tokens_file(path: str, flag: str = "--tokens-file") -> tuple[str, ...]:
    """Entries one per line (TOKEN, or on a server NAME:TOKEN); blank lines and lines
    starting with '#' are skipped."""
    tokens = []
    for number, line in enumerate(_read_text(path, flag).splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            tokens.append(check_token(line, f"{flag} {path} line {number}"))
    if not tokens:  # an empty list would otherwise mean "accept anybody"
        raise ConfigError(f"{flag} {path}: no tokens in it")
    return tuple(tokens)


def read_token_file(path: str, flag: str = "--token-file") -> str:
    """A client's one token (comments and blank lines allowed around it)."""
    tokens = read_tokens_file(path, flag)
    if len(tokens) != 1:
        raise ConfigError(f"{flag} {path}: holds {len(tokens)} tokens, expected one")
    return tokens[0]


def read_secret_file(path: str, flag: str = "--token-secret-file") -> bytes:
    """The shared secret: the file's bytes less surrounding whitespace (a final newline)."""
    try:
        secret = Path(path).read_bytes().strip()
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{flag} {path}: {len(secret)} bytes; a secret needs at least {MIN_SECRET_BYTES} "
            "(make one with: openssl rand -hex 32 > FILE)"
        )
    return secret
