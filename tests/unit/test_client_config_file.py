"""`signfed client --config FILE`: ClientConfig's fields by name, below SIGNFED_* and flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.config import ClientConfig
from signfed import options
from signfed.cli import build_parser, main, parse

CLIENT_TOML = """\
server = "10.0.0.5:6000"
batch_size = 4
threads = 3
[wire]
keepalive_s = 2.5
"""


def _client(argv: list[str]) -> ClientConfig:
    return options.client_config(parse(build_parser(), ["client", *argv]))


def test_toml_file_values_land_in_the_client_config(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text(CLIENT_TOML)
    config = _client(["--config", str(path)])
    assert (config.server, config.batch_size, config.threads) == ("10.0.0.5:6000", 4, 3)
    assert config.wire.keepalive_s == 2.5
    assert config.connect_timeout_s == 60.0  # not in the file: the default


def test_json_file_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text(json.dumps({"name": "edge-7", "wire": {"chunk_bytes": 4096}}))
    config = _client(["--config", str(path)])
    assert (config.name, config.wire.chunk_bytes) == ("edge-7", 4096)


def test_command_line_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text(CLIENT_TOML)
    config = _client(["--config", str(path), "--batch-size", "16", "--keepalive", "7"])
    assert (config.batch_size, config.wire.keepalive_s) == (16, 7.0)
    assert config.server == "10.0.0.5:6000"  # the file's, where no flag is given


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "client.toml"
    path.write_text(CLIENT_TOML)
    monkeypatch.setenv("SIGNFED_BATCH_SIZE", "32")
    monkeypatch.setenv("SIGNFED_SERVER", "env-host:7000")
    config = _client(["--config", str(path)])
    assert (config.batch_size, config.server) == (32, "env-host:7000")
    assert config.threads == 3  # no variable: the file's


@pytest.mark.parametrize(
    "text, message",
    [
        ("rounds = 3\n", "rounds: not a setting of this command"),
        ("[wire]\nspeed = 1\n", "wire.speed: not a setting of this command"),
        ("batch_size = 'four'\n", "batch_size: expected an integer, got 'four'"),
    ],
)
def test_a_bad_key_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "client.toml"
    path.write_text(text)
    assert main(["client", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"signfed: error: --config {path}: {message}"
