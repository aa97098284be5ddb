"""A client's name survives restarts through --identity-file."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.identity import client_name


def test_explicit_name_wins_and_no_file_means_no_name(tmp_path: Path) -> None:
    path = tmp_path / "id"
    assert client_name("alice", str(path)) == "alice"
    assert not path.exists()
    assert client_name("", "") == ""


def test_first_start_generates_a_name_and_restarts_read_it_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "identity"
    first = client_name("", str(path))
    assert first and path.read_text().strip() == first
    assert client_name("", str(path)) == first
    other = client_name("", str(tmp_path / "other"))
    assert other != first  # two replicas on one host still get two names
    assert [p.name for p in path.parent.iterdir()] == ["identity"]  # no temp file left


def test_an_empty_identity_file_is_an_error_not_a_new_identity(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    path.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        client_name("", str(path))


def test_generated_names_keep_the_name_rule() -> None:
    from client.identity import generated_name
    from common.names import name_problem

    assert generated_name("node-7", "0a1b2c3d") == "node-7-0a1b2c3d"
    for host in ("h" * 64, "héte:1", "", "a b"):
        name = generated_name(host, "0a1b2c3d")
        assert name_problem(name) == "" and name.endswith("-0a1b2c3d"), name
