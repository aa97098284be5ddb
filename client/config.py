"""The client's configuration: where its server is and who it is.

Each field declares its flag (common/flags.py); `signfed client`'s options, their
SIGNFED_* variables are generated from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.attack_config import AttackConfig
from common.config import WireConfig, require
from common.flags import setting
from common.names import name_problem


@dataclass(frozen=True)
class ClientConfig:
    server: str = setting(  # host:port of the parameter server
        "127.0.0.1:50051", flag="--server", help="parameter server HOST:PORT"
    )
    name: str = setting(  # stable identity across restarts; empty: derived from the client id
        "", flag="--name", help="stable name across restarts; empty: client-<id>"
    )
    client_id: int = setting(  # -1: the server picks the lowest free id
        -1, flag="--client-id", help="ask for this id; -1 takes the lowest free one"
    )
    batch_size: int = setting(  # 0: the size the server plans for this client's id
        0,
        flag="--batch-size",
        help="this client's minibatch size; 0 takes the server's plan for its id",
    )
    # keeps a generated name across restarts (replicated containers)
    identity_file: str = setting(
        "",
        flag="--identity-file",
        help="with no --name: keep a generated name in this file, so a restart rejoins as "
        "the same client",
    )
    data_dir: str = setting(
        "data", flag="--data-dir", help="where datasets live (see `signfed fetch`)"
    )
    token: str = setting(  # sent on every call, when the server requires one
        "", flag="--token", help="credential, when the server requires one"
    )
    token_file: str = setting(  # ... or read from this file (keeps it out of `ps` and the env)
        "", flag="--token-file", help="read the token from this file instead of --token"
    )
    tls_ca: str = setting(  # PEM CA the server's certificate must chain to; given: TLS
        "", flag="--tls-ca", help="PEM CA the server's certificate must chain to; given: TLS"
    )
    tls_cert: str = setting(  # mutual TLS: the client's certificate chain ...
        "", flag="--tls-cert", help="mutual TLS: this client's PEM certificate chain"
    )
    tls_key: str = setting(  # ... and its private key
        "", flag="--tls-key", help="mutual TLS: the PEM private key of --tls-cert"
    )
    tls_server_name: str = setting(  # name the server's certificate must carry; "": --server's host
        "",
        flag="--tls-server-name",
        help="name the server's certificate must carry, when --server's host is not one of them",
    )
    # one thread keeps gradients bit-reproducible and clients side by side
    threads: int = setting(1, flag="--threads", help="torch threads for the gradient")
    wire: WireConfig = field(default_factory=WireConfig)
    # an attacking client, for robustness experiments: it attacks when its id is one of
    # the run's seeded --attackers ids (common/attacks.py)
    attack: AttackConfig = field(default_factory=AttackConfig)
    # give up joining after this long without a server: a minute covers a server still
    # loading its dataset on a busy machine
    connect_timeout_s: float = setting(
        60.0, flag="--connect-timeout", help="give up after this many seconds without a server"
    )
    backoff_max_s: float = setting(  # reconnect backoff cap
        5.0, flag="--backoff-max", help="longest wait in seconds between reconnection attempts"
    )
    # a slow device, for tests and demos of deadlines and stragglers: real time, not a
    # model of it (the simulation's virtual clock is that)
    delay_s: float = setting(
        0.0, flag="--delay", help="wait this many seconds before sending each update"
    )

    def __post_init__(self) -> None:
        require(":" in self.server, f"--server must be HOST:PORT, got {self.server!r}")
        require(not name_problem(self.name), f"--name: {name_problem(self.name)}")
        require(self.batch_size >= 0, f"--batch-size must be >= 0, got {self.batch_size}")
        require(self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        require(self.connect_timeout_s > 0, "--connect-timeout must be > 0")
        require(self.backoff_max_s > 0, f"--backoff-max must be > 0, got {self.backoff_max_s}")
        require(self.delay_s >= 0, f"--delay must be >= 0 seconds, got {self.delay_s}")
        require(not (self.token and self.token_file), "give --token or --token-file, not both")
        require(bool(self.tls_cert) == bool(self.tls_key), "--tls-cert and --tls-key go together")
        require(
            bool(self.tls_ca) or not (self.tls_cert or self.tls_server_name),
            "--tls-cert, --tls-key and --tls-server-name need --tls-ca (the CA to trust)",
        )
