"""TLS credentials from PEM files, for both sides.

The server presents a certificate and its key (`--tls-cert`, `--tls-key`); with
`--tls-client-ca` it also demands a client certificate signed by that CA (mutual
TLS). A client switches to TLS by naming the CA it trusts (`--tls-ca`) and presents
its own pair for mutual TLS. Every file problem (missing, unreadable, not PEM, a key
that does not belong to its certificate) is a ConfigError naming the flag and the
file at start-up, not a failed handshake later.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from common.config import ConfigError


def read_pem(path: str, flag: str) -> bytes:
    """The bytes of a PEM file, or a ConfigError that names `flag` and the file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{flag} {path}: not a PEM file (no '-----BEGIN' line)")
    return data


def _no_password() -> bytes:
    raise ConfigError("encrypted private key")


def check_key_pair(cert: str, key: str) -> None:
    """Fail unless `key` is the private key of the certificate in `cert`."""
    try:
        # The stdlib checks the pair; gRPC would only fail at the first handshake.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=_no_password)
    except ConfigError:
        raise ConfigError(
            f"--tls-key {key}: the key is encrypted; gRPC needs an unencrypted key "
            "(e.g. openssl pkey -in KEY -out PLAIN_KEY)"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"--tls-key {key} is not the private key of --tls-cert {cert}"
            ) from None
        raise ConfigError(
            f"--tls-cert {cert} / --tls-key {key}: not a certificate and its private key "
            f"({exc.reason or exc})"
        ) from None


def check_ca(path: str, flag: str) -> None:
    """Fail unless `path` holds at least one certificate to trust."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(path)
    except ssl.SSLError as exc:
        raise ConfigError(f"{flag} {path}: no CA certificate in it ({exc.reason or exc})") from None


def server_credentials(cert: str, key: str, client_ca: str = "") -> grpc.ServerCredentials:
    """The server's TLS credentials; with `client_ca`, clients must present a certificate."""
    chain, private_key = read_pem(cert, "--tls-cert"), read_pem(key, "--tls-key")
    check_key_pair(cert, key)
    roots = None
    if client_ca:
        roots = read_pem(client_ca, "--tls-client-ca")
        check_ca(client_ca, "--tls-client-ca")
    return grpc.ssl_server_credentials(
        [(private_key, chain)], root_certificates=roots, require_client_auth=bool(client_ca)
    )


def channel_credentials(ca: str, cert: str = "", key: str = "") -> grpc.ChannelCredentials:
    """A client's TLS credentials: trust `ca`; present (`cert`, `key`) for mutual TLS."""
    roots = read_pem(ca, "--tls-ca")
    check_ca(ca, "--tls-ca")
    if not cert:
        return grpc.ssl_channel_credentials(root_certificates=roots)
    chain, private_key = read_pem(cert, "--tls-cert"), read_pem(key, "--tls-key")
    check_key_pair(cert, key)
    return grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=private_key, certificate_chain=chain
    )


def open_channel(
    target: str,
    options: Sequence[tuple[str, Any]],
    *,
    ca: str = "",
    cert: str = "",
    key: str = "",
    server_name: str = "",
) -> grpc.Channel:
    """A TLS channel when `ca` is given, else plain text.

    `server_name` replaces the host of `target` as the name the server's certificate
    must carry: for an address (an IP, a tunnel) that is not among its names.
    """
    if not ca:
        return grpc.insecure_channel(target, options=list(options))
    if server_name:
        options = [*options, ("grpc.ssl_target_name_override", server_name)]
    return grpc.secure_channel(target, channel_credentials(ca, cert, key), options=list(options))
