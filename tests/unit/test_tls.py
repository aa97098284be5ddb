"""TLS credential loading: every file problem is a ConfigError naming the flag and file."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from client.config import ClientConfig
from common.config import ConfigError
from common.tls import channel_credentials, read_pem, server_credentials
from server.app import _bind, is_loopback
from server.config import ServerConfig
from tests.certs import make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("tls") / "certs")


def test_the_script_makes_a_ca_and_two_pairs_with_the_names(certs: Path) -> None:
    assert sorted(p.name for p in certs.iterdir()) == [
        "ca.key", "ca.pem", "client.key", "client.pem", "server.key", "server.pem",
    ]  # fmt: skip
    text = subprocess.run(
        ["openssl", "x509", "-in", str(certs / "server.pem"), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in (
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "DNS:server",
    ):
        assert name in text
    assert (certs / "server.key").stat().st_mode & 0o077 == 0  # keys: owner only
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certs / "ca.pem"),
         str(certs / "server.pem"), str(certs / "client.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_good_files_make_credentials(certs: Path) -> None:
    assert server_credentials(str(certs / "server.pem"), str(certs / "server.key")) is not None
    mutual = server_credentials(
        str(certs / "server.pem"), str(certs / "server.key"), str(certs / "ca.pem")
    )
    assert mutual is not None
    client = channel_credentials(
        str(certs / "ca.pem"), str(certs / "client.pem"), str(certs / "client.key")
    )
    assert client is not None


def test_missing_unreadable_and_non_pem_files(certs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--tls-cert .*nope\.pem: no such file"):
        server_credentials(str(tmp_path / "nope.pem"), str(certs / "server.key"))
    with pytest.raises(ConfigError, match="--tls-ca .*: cannot read it"):
        read_pem(str(tmp_path), "--tls-ca")  # a directory
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"--tls-key .*junk\.pem: not a PEM file"):
        server_credentials(str(certs / "server.pem"), str(junk))


def test_a_key_of_another_certificate_is_refused(certs: Path) -> None:
    with pytest.raises(ConfigError, match=r"--tls-key .*client\.key is not the private key of"):
        server_credentials(str(certs / "server.pem"), str(certs / "client.key"))
    with pytest.raises(ConfigError, match="not a certificate and its private key"):
        server_credentials(str(certs / "server.key"), str(certs / "server.key"))


def test_an_encrypted_key_is_refused_without_prompting(certs: Path, tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(certs / "server.key"), "-aes256",
         "-passout", "pass:secret", "-out", str(encrypted)],
        check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="the key is encrypted"):
        server_credentials(str(certs / "server.pem"), str(encrypted))


def test_a_ca_file_without_a_certificate_is_refused(certs: Path) -> None:
    with pytest.raises(ConfigError, match=r"--tls-client-ca .*ca\.key: no CA certificate"):
        server_credentials(
            str(certs / "server.pem"), str(certs / "server.key"), str(certs / "ca.key")
        )
    with pytest.raises(ConfigError, match=r"--tls-ca .*server\.key: no CA certificate"):
        channel_credentials(str(certs / "server.key"))


def test_configs_refuse_incomplete_tls_settings() -> None:
    with pytest.raises(ConfigError, match="--tls-cert and --tls-key go together"):
        ServerConfig(tls_cert="s.pem")
    with pytest.raises(ConfigError, match="--tls-client-ca .* needs --tls-cert"):
        ServerConfig(tls_client_ca="ca.pem")
    with pytest.raises(ConfigError, match="--tls-cert and --tls-key go together"):
        ClientConfig(tls_ca="ca.pem", tls_key="c.key")
    with pytest.raises(ConfigError, match="need --tls-ca"):
        ClientConfig(tls_cert="c.pem", tls_key="c.key")
    with pytest.raises(ConfigError, match="need --tls-ca"):
        ClientConfig(tls_server_name="server")


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "10.0.0.5", "server", "example.org")))


def test_plain_text_off_loopback_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    class Server:  # stands in for grpc.aio.Server: binding is not the point here
        def add_insecure_port(self, address: str) -> int:
            return 4321

    with caplog.at_level(logging.INFO, logger="server.app"):
        assert _bind(Server(), ServerConfig(host="127.0.0.1"), None) == 4321
        assert not caplog.records
        assert _bind(Server(), ServerConfig(host="0.0.0.0"), None) == 4321
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "PLAIN TEXT on 0.0.0.0" in caplog.text and "--tls-cert" in caplog.text
