"""How the server served, as its checkpoints record it, and what `--resume` makes of it.

A checkpoint records (under meta["server"]):
- "settings": every ServerConfig field that is not the run (checked apart), the run
  directory, a one-off switch (resume, overwrite) or security: host, port, data_dir,
  threads, checkpoint_every, the round deadline, quorum, the wire limits, and any field
  added later, found with dataclasses.fields;
- "security": WHICH mechanisms guarded the run: TLS, mutual TLS, a token list, a token
  secret, with a SHA-256 fingerprint of the client CA, the token list and the secret.
  Never a secret itself: a copied checkpoint must not let anyone in.

On `--resume`, a setting given again (flag or SIGNFED_* variable) wins and the change
is logged; one not given is the checkpoint's. Security settings are never taken from
the checkpoint (it holds no secrets): they must be given again, the same ones, or the
resume is refused. A run started with tokens must not come back open to anybody.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Set
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from common.config import ConfigError
from common.tokens import read_secret_file, read_tokens_file
from server.config import ServerConfig

log = logging.getLogger(__name__)

SECURITY_FIELDS = ("tls_cert", "tls_key", "tls_client_ca", "tokens", "tokens_file",
                   "token_secret_file")  # fmt: skip
NOT_RECORDED = {"run", "out_dir", "resume", "overwrite", *SECURITY_FIELDS}
# Security record key -> the flags that set it, for the message of a refused resume.
MECHANISMS = {
    "tls": "--tls-cert and --tls-key",
    "client_ca": "--tls-client-ca",
    "tokens": "--tokens/--tokens-file",
    "token_secret": "--token-secret-file",
}


def serving_record(config: ServerConfig) -> dict[str, Any]:
    """What checkpoints record of how `config` serves (JSON values)."""
    settings = {
        f.name: _json(getattr(config, f.name)) for f in fields(config) if f.name not in NOT_RECORDED
    }
    return {"settings": settings, "security": security_record(config)}


def security_record(config: ServerConfig) -> dict[str, Any]:
    """Which mechanisms `config` uses, each with a fingerprint where it has a content."""
    tokens = [*config.tokens, *(read_tokens_file(config.tokens_file) if config.tokens_file else ())]
    return {
        "tls": bool(config.tls_cert),
        "client_ca": _file_fingerprint(config.tls_client_ca) if config.tls_client_ca else None,
        "tokens": _fingerprint("\n".join(sorted(set(tokens))).encode()) if tokens else None,
        "token_secret": (
            _fingerprint(read_secret_file(config.token_secret_file))
            if config.token_secret_file
            else None
        ),
    }


def resumed_serving(config: ServerConfig, recorded: Any, given: Set[str]) -> ServerConfig:
    """`config` for `--resume`: the recorded settings where none was `given` (field names,
    a nested one dotted: 'wire.keepalive_s'); ConfigError when the security differs."""
    where = f"--resume {config.out_dir}"
    if recorded is None:  # written before checkpoints recorded them
        log.warning("%s: the checkpoint records no server settings; using the flags given", where)
        return config
    if not isinstance(recorded, dict) or not isinstance(recorded.get("settings"), dict):
        raise ConfigError(f"{where}: the checkpoint's server settings are damaged")
    _check_security(where, recorded.get("security"), security_record(config))
    taken: list[str] = []
    changed: list[str] = []
    try:
        config = _merge(config, recorded["settings"], given, "", taken, changed)
    except (TypeError, ValueError) as exc:  # ConfigError too: a value out of range
        invalid = f"the checkpoint's server settings are not valid ({exc})"
        raise ConfigError(f"{where}: {invalid}") from None
    if taken:
        log.info("%s: from the checkpoint: %s", where, ", ".join(taken))
    for change in changed:
        log.info("%s: given: %s", where, change)
    return config


def _merge(
    config: Any, theirs: dict[str, Any], given: Set[str], prefix: str,
    taken: list[str], changed: list[str],
) -> Any:  # fmt: skip
    """`config` (a dataclass) with `theirs` where the field was not `given`."""
    updates: dict[str, Any] = {}
    for f in fields(config):
        name = prefix + f.name
        if (not prefix and f.name in NOT_RECORDED) or f.name not in theirs:
            continue  # a field added since: it keeps the value given or its default
        ours, value = getattr(config, f.name), theirs[f.name]
        if is_dataclass(ours):
            if not isinstance(value, dict):
                raise TypeError(f"{name} should be an object, got {value!r}")
            updates[f.name] = _merge(ours, value, given, name + ".", taken, changed)
        elif name in given:
            if _json(ours) != value:
                changed.append(f"{name} {ours!r} (the checkpoint's: {value!r})")
        else:
            updates[f.name] = _value(name, value, ours)
            taken.append(f"{name} {updates[f.name]!r}")
    return replace(config, **updates)  # __post_init__ checks the values' ranges


def _value(name: str, value: Any, ours: Any) -> Any:
    """A recorded JSON value in the type of the field (lists are tuples); TypeError for
    one of another kind (a crafted file: a port that is a string)."""
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,), tuple: (list,)}
    if value is None or ours is None:  # an optional field (None: automatic)
        if isinstance(value, dict | list):
            raise TypeError(f"{name} should be a scalar, got {value!r}")
        return value
    allowed = kinds.get(type(ours))
    if allowed is None or type(value) not in allowed:
        raise TypeError(f"{name} should be a {type(ours).__name__}, got {value!r}")
    return tuple(value) if isinstance(ours, tuple) else value


def _check_security(where: str, recorded: Any, ours: dict[str, Any]) -> None:
    if not isinstance(recorded, dict) or set(recorded) != set(MECHANISMS):
        raise ConfigError(f"{where}: the checkpoint's security record is damaged")
    if recorded == ours:
        return
    missing = [flags for key, flags in MECHANISMS.items() if recorded[key] and not ours[key]]
    other = [
        flags
        for key, flags in MECHANISMS.items()
        if recorded[key] and ours[key] and recorded[key] != ours[key]
    ]
    added = [flags for key, flags in MECHANISMS.items() if ours[key] and not recorded[key]]
    problems = []
    if missing:
        problems.append(f"give {', '.join(missing)} again (the checkpoint keeps no secrets)")
    if other:
        problems.append(f"{', '.join(other)} differ from the run's: give the same files")
    if added:
        problems.append(f"drop {', '.join(added)}: the run had none")
    raise ConfigError(
        f"{where}: the run was served with {describe(recorded)}; a resume needs the same "
        f"security: {'; '.join(problems)}"
    )


def describe(security: dict[str, Any]) -> str:
    """'mutual TLS, tokens from a shared secret', for messages."""
    transport = "plain text"
    if security["tls"]:
        transport = "mutual TLS" if security["client_ca"] else "TLS"
    if security["token_secret"]:
        return f"{transport}, tokens from a shared secret"
    return f"{transport}, {'tokens from a list' if security['tokens'] else 'no tokens'}"


def _fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _file_fingerprint(path: str) -> str:
    try:
        return _fingerprint(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"--tls-client-ca {path}: cannot read it ({exc.strerror})") from None


def _json(value: Any) -> Any:
    """A setting as JSON values (a dataclass as an object, tuples as lists)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    return json.loads(json.dumps(value))
