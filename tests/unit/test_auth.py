"""Token verification, token files and `signfed token`, without gRPC."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from client.config import ClientConfig
from common.config import ConfigError
from common.tokens import (
    bearer_token,
    call_metadata,
    client_token,
    read_secret_file,
    read_token_file,
    read_tokens_file,
)
from server.auth import TokenVerifier, verifier_for
from server.config import ServerConfig
from server.errors import Unauthenticated
from signfed.cli import main

SECRET = b"0123456789abcdef0123456789abcdef"


def test_client_token_is_hex_hmac_sha256_of_the_name() -> None:
    expected = hmac.new(SECRET, b"client-3", hashlib.sha256).hexdigest()
    assert client_token(SECRET, "client-3") == expected
    assert len(expected) == 64 and client_token(SECRET, "client-4") != expected


def test_list_verifier_accepts_listed_tokens_only() -> None:
    verifier = TokenVerifier(tokens=("alpha", "beta"))
    assert not verifier.binds_names
    assert verifier.verify("beta", "anyone") == ""
    with pytest.raises(Unauthenticated, match="unknown token"):
        verifier.verify("gamma", "anyone")
    with pytest.raises(Unauthenticated, match="missing token"):
        verifier.verify("", "anyone")
    with pytest.raises(Unauthenticated, match="unknown token"):
        verifier.verify("alph", "anyone")  # a prefix is not a match


def test_secret_verifier_binds_each_token_to_its_name() -> None:
    verifier = TokenVerifier(secret=SECRET)
    assert verifier.binds_names
    assert verifier.verify(client_token(SECRET, "alice"), "alice") == "alice"
    with pytest.raises(Unauthenticated, match="not valid for client name 'bob'"):
        verifier.verify(client_token(SECRET, "alice"), "bob")
    with pytest.raises(Unauthenticated, match="--name"):
        verifier.verify(client_token(SECRET, ""), "")
    other = b"another secret of at least 16 bytes"
    with pytest.raises(Unauthenticated):
        verifier.verify(client_token(other, "alice"), "alice")


def test_verifier_needs_exactly_one_mode() -> None:
    with pytest.raises(ValueError):
        TokenVerifier()
    with pytest.raises(ValueError):
        TokenVerifier(tokens=("a",), secret=SECRET)


def test_metadata_round_trip_and_bearer_parsing() -> None:
    verifier = TokenVerifier(secret=SECRET)
    metadata = call_metadata(client_token(SECRET, "alice"), "alice")
    assert verifier.verify_metadata([*metadata, ("user-agent", "x")]) == "alice"
    assert bearer_token("bearer abc") == "abc"  # the scheme is case-insensitive
    assert bearer_token("Basic abc") == "" and bearer_token("abc") == ""
    with pytest.raises(Unauthenticated, match="missing token"):
        verifier.verify_metadata([("authorization", "Basic " + client_token(SECRET, "alice"))])
    with pytest.raises(Unauthenticated, match="missing token"):
        verifier.verify_metadata([])


def test_join_name_must_be_the_authenticated_one() -> None:
    metadata = call_metadata(client_token(SECRET, "alice"), "alice")
    assert TokenVerifier(secret=SECRET).check_join_name(metadata, "alice") == "alice"
    with pytest.raises(Unauthenticated, match="Join as 'bob' with the token of 'alice'"):
        TokenVerifier(secret=SECRET).check_join_name(metadata, "bob")
    # A bare list token names nobody: any name may join with it, and it proves none.
    assert TokenVerifier(tokens=("t",)).check_join_name(call_metadata("t", "alice"), "bob") == ""


def test_a_name_token_entry_is_good_for_its_name_only() -> None:
    verifier = TokenVerifier(tokens=("alice:tok-a", "shared", "bob:tok:b"))
    assert not verifier.binds_names  # only some of its tokens do
    assert verifier.verify("tok-a", "alice") == "alice"
    assert verifier.verify("tok:b", "bob") == "bob"  # the first ':' ends the name
    assert verifier.verify("shared", "alice") == ""
    with pytest.raises(Unauthenticated, match="not valid for client name 'mallory'"):
        verifier.verify("tok-a", "mallory")
    with pytest.raises(Unauthenticated, match="unknown token"):
        verifier.verify("alice:tok-a", "alice")  # the client sends TOKEN, not the entry
    # At Join: the name joined must be the token's; a bound name needs its own token.
    assert verifier.check_join_name(call_metadata("tok-a", "alice"), "alice") == "alice"
    with pytest.raises(Unauthenticated, match="Join as 'carol' with the token of 'alice'"):
        verifier.check_join_name(call_metadata("tok-a", "alice"), "carol")
    with pytest.raises(Unauthenticated, match="Join as 'alice' with a token bound to no name"):
        verifier.check_join_name(call_metadata("shared", "mallory"), "alice")
    assert verifier.check_join_name(call_metadata("shared", "x"), "carol") == ""


@pytest.mark.parametrize(
    "entry,message",
    [
        (":tok", "needs a valid name: the name is empty"),
        ("caf\u00e9:tok", r"needs a valid name: .*'caf\\xe9' contains '\\xe9'"),
        ("a b:tok", "needs a valid name: .* contains ' '"),
        ("a/b:tok", "needs a valid name: a client name is 1..64"),
        ("alice:", "a token is printable ASCII"),
    ],
)
def test_bad_name_token_entries_are_config_errors(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        verifier_for(ServerConfig(tokens=(entry,)))


def test_a_token_bound_to_two_names_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"one token is listed for \['alice', 'bob'\]"):
        TokenVerifier(tokens=("alice:t", "bob:t"))
    with pytest.raises(ConfigError, match=r"listed for \['', 'alice'\]"):
        TokenVerifier(tokens=("alice:t", "t"))
    assert TokenVerifier(tokens=("alice:t", "alice:t")).verify("t", "alice") == "alice"


def test_tokens_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# lab machines\n\n  tok-1  \ntok-2\n#tok-3\n")
    assert read_tokens_file(str(path)) == ("tok-1", "tok-2")
    path.write_text("# nothing but a comment\n")
    with pytest.raises(ConfigError, match="no tokens"):
        read_tokens_file(str(path))
    path.write_text("two words\n")
    with pytest.raises(ConfigError, match="line 1: a token is printable ASCII"):
        read_tokens_file(str(path))
    with pytest.raises(ConfigError, match="--tokens-file .*missing: no such file"):
        read_tokens_file(str(tmp_path / "missing"))


def test_token_file_holds_exactly_one_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret\n")
    assert read_token_file(str(path)) == "s3cret"
    path.write_text("a\nb\n")
    with pytest.raises(ConfigError, match="--token-file .* holds 2 tokens"):
        read_token_file(str(path))


def test_secret_file_strips_the_newline_and_refuses_short_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    assert read_secret_file(str(path)) == SECRET
    path.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="5 bytes; a secret needs at least 16"):
        read_secret_file(str(path))


def test_verifier_for_the_server_config(tmp_path: Path) -> None:
    assert verifier_for(ServerConfig()) is None  # no tokens: anybody may join
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("from-file\n")
    verifier = verifier_for(ServerConfig(tokens=("from-flag",), tokens_file=str(tokens_file)))
    assert verifier is not None
    assert verifier.verify("from-flag", "") == verifier.verify("from-file", "") == ""
    tokens_file.write_text("# one per client\nalice:tok-a\n")
    verifier = verifier_for(ServerConfig(tokens_file=str(tokens_file)))
    assert verifier is not None and verifier.verify("tok-a", "alice") == "alice"
    tokens_file.write_text("bad name:tok\n")
    with pytest.raises(ConfigError, match="line 1: a token is printable ASCII"):
        verifier_for(ServerConfig(tokens_file=str(tokens_file)))
    tokens_file.write_text("bad/name:tok\n")
    with pytest.raises(ConfigError, match=f"--tokens-file {tokens_file}: a NAME:TOKEN entry"):
        verifier_for(ServerConfig(tokens_file=str(tokens_file)))
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    verifier = verifier_for(ServerConfig(token_secret_file=str(secret_file)))
    assert verifier is not None and verifier.binds_names
    with pytest.raises(ConfigError, match="not both"):
        ServerConfig(tokens=("a",), token_secret_file=str(secret_file))
    with pytest.raises(ConfigError, match="--tokens: a token is printable ASCII"):
        verifier_for(ServerConfig(tokens=("caf\u00e9",)))


def test_client_config_takes_one_token_source() -> None:
    with pytest.raises(ConfigError, match="--token or --token-file, not both"):
        ClientConfig(token="a", token_file="f")


@pytest.mark.parametrize("name", ["caf\u00e9", "a" * 65, "two words", "alice:x"])
def test_client_config_refuses_a_name_the_server_would(name: str) -> None:
    with pytest.raises(ConfigError, match=r"--name: a client name is 1\.\.64 characters"):
        ClientConfig(name=name)
    assert ClientConfig(name="host-7.lab_a").name == "host-7.lab_a"
    assert ClientConfig(name="").name == ""


def test_token_command_prints_the_token_of_a_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET + b"\n")
    assert main(["token", "--secret-file", str(secret_file), "--name", "client-0"]) == 0
    assert capsys.readouterr().out == client_token(SECRET, "client-0") + "\n"


def test_token_command_refuses_a_name_the_server_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET + b"\n")
    assert main(["token", "--secret-file", str(secret_file), "--name", "a" * 65]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "a client name is 1..64 characters" in captured.err
