"""The server's configuration: how it serves a run (the run itself: common/config.py).

Each field declares its flag (common/flags.py); `signfed server`'s options, their
SIGNFED_* variables and --config files are generated from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.async_config import AsyncConfig, check_async_run
from common.config import RunConfig, WireConfig, require
from common.flags import joined, setting, word_tuple
from common.split_config import SPLIT, SplitConfig, check_split_run


def _deadline(text: str) -> float | None:
    """--round-deadline: 'auto' (None) or seconds."""
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected 'auto' or seconds, got {text!r}") from None


def _show_deadline(seconds: float | None) -> str:
    return "auto" if seconds is None else repr(seconds)


@dataclass(frozen=True)
class ServerConfig:
    run: RunConfig = field(default_factory=RunConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    # --async: every update applied as it arrives (server/async_coordinator.py); off: rounds
    asynchrony: AsyncConfig = field(default_factory=AsyncConfig)
    # --algorithm split: the variant and the cut (server/split_coordinator.py)
    split: SplitConfig = field(default_factory=SplitConfig)
    # loopback by default; "0.0.0.0" to serve other machines
    host: str = setting(
        "127.0.0.1", flag="--host", help="address to bind; 0.0.0.0 serves other machines"
    )
    # the well-known port clients default to; 0: the OS picks one (tests, launchers)
    port: int = setting(50051, flag="--port", help="port to bind; 0 picks a free one")
    out_dir: str = setting(  # metrics.jsonl and summary.json land here
        "runs/latest", flag="--out", help="directory for metrics.jsonl and summary.json"
    )
    data_dir: str = setting(  # where the test set for evaluation is read from
        "data", flag="--data-dir", help="where datasets live (see `signfed fetch`)"
    )
    tokens: tuple[str, ...] = setting(  # accepted client tokens; empty accepts any client
        (),
        flag="--tokens",
        help="comma-separated client tokens to accept; empty accepts any",
        parse=word_tuple,
        show=joined,
    )
    # torch threads for evaluation: the event loop needs a core too
    threads: int = setting(2, flag="--threads", help="torch threads for evaluation")
    # Security (common/tls.py, server/auth.py); no TLS flags: plain text, for loopback.
    tls_cert: str = setting(  # PEM certificate chain the server presents; with tls_key: TLS
        "", flag="--tls-cert", help="PEM certificate chain to serve TLS with; empty: plain text"
    )
    # PEM private key of tls_cert (unencrypted: gRPC reads it once)
    tls_key: str = setting("", flag="--tls-key", help="PEM private key of --tls-cert")
    tls_client_ca: str = setting(  # mutual TLS: clients must present a certificate from this CA
        "", flag="--tls-client-ca", help="mutual TLS: require client certificates from this CA"
    )
    tokens_file: str = setting(  # more accepted tokens, one per line ('#' comments)
        "", flag="--tokens-file", help="more tokens to accept, one per line ('#' comments)"
    )
    # instead of a list: a client's token is HMAC(secret, name)
    token_secret_file: str = setting(
        "",
        flag="--token-secret-file",
        help="instead of a token list: a client's token is HMAC-SHA256(secret, its --name), "
        "printed by `signfed token`",
    )
    # Reliability (server/checkpoints.py, the coordinator's deadline):
    # rounds between checkpoints in out_dir; 0: only at SIGTERM
    checkpoint_every: int = setting(
        50,
        flag="--checkpoint-every",
        help="write <out>/checkpoint.npz every this many rounds (0: only at SIGTERM)",
    )
    # continue the run checkpointed in out_dir (`--resume DIR` also names out_dir)
    resume: bool = setting(False, set_by="--resume")
    # a fresh run may replace an earlier run in out_dir (run_dir.py)
    overwrite: bool = setting(
        False,
        flag="--overwrite",
        help="a fresh run may replace the earlier run in --out: its files are removed "
        "first (without it such an --out is refused)",
    )
    # None: adaptive (server/deadline.py: 10x the quorum's time, >= 10 s), so one silent
    # member cannot stall the run; 0: a round waits for every vote; else fixed seconds.
    round_deadline_s: float | None = setting(
        None,
        flag="--round-deadline",
        help="seconds after which a round closes without the missing votes, once a quorum "
        "has voted; auto: 10x the time the quorum took, at least 10 s; 0: wait for "
        "every vote",
        parse=_deadline,
        show=_show_deadline,
    )
    quorum: float = setting(  # ... once at least this fraction of the cohort has voted
        0.5, flag="--quorum", help="fraction of the cohort a deadline close needs"
    )

    def __post_init__(self) -> None:
        require(0 <= self.port < 65536, f"--port must be in [0, 65535], got {self.port}")
        require(self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        require(
            self.checkpoint_every >= 0,
            f"--checkpoint-every must be >= 0, got {self.checkpoint_every}",
        )
        require(
            self.round_deadline_s is None or self.round_deadline_s >= 0,
            f"--round-deadline must be >= 0 seconds, got {self.round_deadline_s}",
        )
        require(0 < self.quorum <= 1, f"--quorum must be in (0, 1], got {self.quorum}")
        check_async_run(self.asynchrony, self.run)
        check_split_run(self.split, self.run)
        if self.run.aggregator.algorithm == SPLIT:
            require(not self.asynchrony.enabled, "--algorithm split has rounds: drop --async")
            require(not self.resume, "--algorithm split keeps no checkpoints to --resume (yet)")
        require(
            not (self.resume and self.overwrite),
            "--resume continues the run in its directory and --overwrite discards it: give one",
        )
        require(bool(self.tls_cert) == bool(self.tls_key), "--tls-cert and --tls-key go together")
        require(
            not self.tls_client_ca or bool(self.tls_cert),
            "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key",
        )
        require(
            not (self.token_secret_file and (self.tokens or self.tokens_file)),
            "give --tokens/--tokens-file or --token-secret-file, not both",
        )
