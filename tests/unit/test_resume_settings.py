"""`--resume` keeps the server settings not given again, takes the ones given (even at
their default value), and refuses to come back with other security than the run had."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError, RunConfig, WireConfig
from server.checkpoints import ServerState, save_server_state
from server.config import ServerConfig
from server.settings import NOT_RECORDED, resumed_serving, serving_record
from signfed import options
from signfed.cli import build_parser
from signfed.resume import given_dests, resumed_config, server_fields

SECRET = b"0123456789abcdef0123456789abcdef"


def _secret(tmp_path: Path, content: bytes = SECRET) -> str:
    path = tmp_path / f"secret-{len(list(tmp_path.iterdir()))}"
    path.write_bytes(content + b"\n")
    return str(path)


def _served(tmp_path: Path) -> ServerConfig:
    """How the first server ran: not one default among its serving settings."""
    return ServerConfig(
        run=RunConfig(num_clients=2, rounds=20),
        wire=WireConfig(keepalive_s=3.0),
        host="0.0.0.0",
        port=50077,
        out_dir=str(tmp_path / "run"),
        threads=1,
        checkpoint_every=10,
        round_deadline_s=30.0,
        quorum=0.6,
        token_secret_file=_secret(tmp_path),
    )


def test_the_record_holds_every_serving_setting_and_no_secret(tmp_path: Path) -> None:
    record = serving_record(_served(tmp_path))
    expected = {f.name for f in fields(ServerConfig)} - NOT_RECORDED
    assert set(record["settings"]) == expected
    assert record["settings"]["checkpoint_every"] == 10
    assert record["settings"]["wire"]["keepalive_s"] == 3.0
    assert record["security"]["tls"] is False and record["security"]["tokens"] is None
    assert len(record["security"]["token_secret"]) == 64  # a SHA-256, hex
    assert SECRET.decode() not in json.dumps(record)


def test_settings_not_given_are_the_checkpoints(tmp_path: Path) -> None:
    recorded = serving_record(_served(tmp_path))
    given_again = ServerConfig(resume=True, port=0, token_secret_file=_secret(tmp_path))
    back = resumed_serving(given_again, recorded, {"port", "token_secret_file", "resume"})
    assert back.port == 0  # given: it wins
    assert (back.host, back.threads, back.checkpoint_every) == ("0.0.0.0", 1, 10)
    assert (back.round_deadline_s, back.quorum, back.wire.keepalive_s) == (30.0, 0.6, 3.0)


def test_a_setting_given_at_its_default_value_still_wins(tmp_path: Path) -> None:
    recorded = serving_record(_served(tmp_path))
    config = ServerConfig(checkpoint_every=50, token_secret_file=_secret(tmp_path))
    back = resumed_serving(config, recorded, {"checkpoint_every", "wire.keepalive_s"})
    assert back.checkpoint_every == 50 and back.wire.keepalive_s == 10.0
    assert back.quorum == 0.6 and back.wire.max_message_bytes == WireConfig().max_message_bytes


@pytest.mark.parametrize(
    "security, message",
    [
        ({}, r"served with plain text, tokens from a shared secret; a resume needs the same "
             r"security: give --token-secret-file again"),
        ({"secret": b"another secret of 32 bytes......"},
         r"--token-secret-file differ from the run's: give the same files"),
        ({"tokens": ("t1",)}, r"give --token-secret-file again \(the checkpoint keeps no "
                              r"secrets\); drop --tokens/--tokens-file: the run had none"),
        ({"secret": SECRET, "tls": True}, r"drop --tls-cert and --tls-key: the run had none"),
    ],
)  # fmt: skip
def test_other_security_is_refused_naming_the_flags(
    tmp_path: Path, security: dict[str, object], message: str
) -> None:
    recorded = serving_record(_served(tmp_path))
    secret = security.get("secret")
    config = ServerConfig(
        token_secret_file=_secret(tmp_path, secret) if isinstance(secret, bytes) else "",
        tokens=security.get("tokens", ()),  # type: ignore[arg-type]
        tls_cert="cert.pem" if security.get("tls") else "",
        tls_key="key.pem" if security.get("tls") else "",
    )
    with pytest.raises(ConfigError, match=message) as info:
        resumed_serving(config, recorded, set())
    assert "\n" not in str(info.value)


def test_a_run_with_tls_and_tokens_needs_them_all_again(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("a CA")
    served = ServerConfig(tls_cert="c", tls_key="k", tls_client_ca=str(ca), tokens=("a", "b"))
    recorded = serving_record(served)
    with pytest.raises(
        ConfigError,
        match=r"served with mutual TLS, tokens from a list; .*give "
        r"--tls-cert and --tls-key, --tls-client-ca, --tokens/--tokens-file again",
    ):
        resumed_serving(ServerConfig(), recorded, set())  # fmt: skip
    again = ServerConfig(tls_cert="c2", tls_key="k2", tls_client_ca=str(ca), tokens=("b", "a"))
    assert resumed_serving(again, recorded, set()).tokens == ("b", "a")  # the same list
    ca.write_text("another CA")
    with pytest.raises(ConfigError, match=r"--tls-client-ca differ from the run's"):
        resumed_serving(again, recorded, set())


@pytest.mark.parametrize(
    "damage, message",
    [
        ({"settings": {"port": "fifty"}}, r"server settings are not valid \(port should be a int"),
        ({"settings": {"port": 70000}}, r"not valid \(--port must be in \[0, 65535\]"),
        ({"settings": {"wire": 3}}, r"not valid \(wire should be an object"),
        ({"settings": []}, r"the checkpoint's server settings are damaged"),
        ({"security": {"tls": False}}, r"the checkpoint's security record is damaged"),
    ],
)  # fmt: skip
def test_damaged_settings_are_refused(
    tmp_path: Path, damage: dict[str, object], message: str
) -> None:
    recorded = {**serving_record(ServerConfig()), **damage}
    with pytest.raises(ConfigError, match=message):
        resumed_serving(ServerConfig(), recorded, set())


def test_given_means_on_the_command_line_or_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGNFED_QUORUM", "0.7")
    given = given_dests(build_parser(), ["server", "--checkpoint-every", "50", "--pooled"])
    assert {"checkpoint_every", "pooled", "quorum"} <= given
    assert not given & {"host", "port", "rounds", "round_deadline"}
    assert server_fields(given) >= {"checkpoint_every", "quorum"}
    assert server_fields({"keepalive", "round_deadline"}) == {
        "wire.keepalive_s",
        "round_deadline_s",
    }


def _resume(tmp_path: Path, *argv: str) -> ServerConfig:
    """What `signfed server --resume DIR ARGV` runs with (the checkpoint of _served)."""
    served = _served(tmp_path)
    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    state = ServerState(np.zeros(4, np.float32), 2, {}, [], {}, 1.0)
    save_server_state(out, served.run, state, serving_record(served))
    full = ["server", "--resume", str(out), "--token-secret-file", served.token_secret_file, *argv]
    args = build_parser().parse_args(full)
    return resumed_config(options.server_config(args), args, given_dests(build_parser(), full))


def test_resume_from_the_command_line(tmp_path: Path) -> None:
    config = _resume(tmp_path, "--port", "50051")  # the default value, given
    assert config.run == RunConfig(num_clients=2, rounds=20)
    assert (config.port, config.host, config.checkpoint_every) == (50051, "0.0.0.0", 10)


def test_run_flags_given_again_must_agree_but_need_not_be_all(tmp_path: Path) -> None:
    assert _resume(tmp_path, "--rounds", "20", "--clients", "2").run.rounds == 20
    with pytest.raises(ConfigError, match=r"made with other settings \(rounds\); drop those"):
        _resume(tmp_path, "--rounds", "30")
