"""Run configuration: one frozen dataclass per concern, validated on construction.

CLI flags, environment variables and the compose file all end up here; an invalid
value fails fast with a message naming the flag to change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from common.names import name_problem
from common.schedule import LR_SCHEDULES, learning_rate_at

PROTOCOL_VERSION = "signfed.v1"

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "synthetic")
MODELS = ("mlp", "net", "resnet56")
PARTITIONS = ("copy", "iid", "classes", "dirichlet")
DEFAULT_MODEL = {
    "digits": "mlp",
    "synthetic": "mlp",
    "mnist": "net",
    "fashion-mnist": "net",
    "cifar10": "resnet56",
}

# The paper's batch modes for M = 15 clients, total batch 960 (DESIGN.md).
BATCH_MODES: dict[int, tuple[int, ...]] = {
    1: (64,) * 15,
    2: (4,) * 9 + (154,) * 6,
    3: (4,) * 12 + (304,) * 3,
    4: (4,) * 14 + (904,),
}
DEFAULT_BATCH_SIZE = 64  # what a client gets when neither it nor the server's plan chooses


class ConfigError(ValueError):
    """An invalid setting; the message names the flag to change."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class AggregatorConfig:
    algorithm: str = "llr"  # "llr" (IT-signSGD) or "mv" (signSGD-MV)
    warmup_rounds: int = 100  # paper's T_in: plain majority while crossing estimates are noisy
    eps: float = 1e-5  # authors' code: keeps log((1-p)/p) finite at p = 0 or 1
    weight_clip: float = 10.0  # decision-directed estimates can run away; bound any one voter
    forgetting: float = 1.0  # 1.0 counts every round alike (paper); < 1 discounts old rounds
    pooled: bool = False  # one p per client over all coordinates, not one per coordinate
    seed: int = 0  # seeds the coin that breaks tied votes, so replays decide alike

    def __post_init__(self) -> None:
        _require(self.warmup_rounds >= 0, f"--warmup-rounds must be >= 0, got {self.warmup_rounds}")
        _require(0 < self.eps < 0.5, f"--eps must be in (0, 0.5), got {self.eps}")
        _require(self.weight_clip > 0, f"--weight-clip must be > 0, got {self.weight_clip}")
        _require(0 < self.forgetting <= 1, f"--forgetting must be in (0, 1], got {self.forgetting}")


@dataclass(frozen=True)
class RunConfig:
    """What every participant must agree on; the server hands it to joiners."""

    dataset: str = "digits"
    model: str = ""  # empty: the dataset's default (DEFAULT_MODEL)
    num_clients: int = 3  # the cohort size the server waits for before round 0
    rounds: int = 100
    learning_rate: float = 1e-3  # paper: constant 1e-3, no momentum, no weight decay
    lr_schedule: str = "constant"  # the paper's; "step" / "cosine" decay calm late rounds
    seed: int = 0  # model init, data shuffles, zero/tie coins
    partition: str = "copy"  # "copy": each client holds a shuffled copy of all data (paper)
    classes_per_client: int = 2  # for partition "classes"
    dirichlet_alpha: float = 0.5  # for partition "dirichlet": smaller is more skewed
    digest_every: int = 10  # K: clients check their replica against the master every K rounds
    eval_every: int = 10  # evaluate the master model on the test set every this many rounds
    # Per-client batch sizes by client id, handed to clients that do not choose their
    # own (a replicated compose service cannot give each replica its own flag).
    # Empty: DEFAULT_BATCH_SIZE for those clients.
    batch_sizes: tuple[int, ...] = ()
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)

    def __post_init__(self) -> None:
        _require(
            self.dataset in DATASETS, f"--dataset must be one of {DATASETS}, got {self.dataset!r}"
        )
        if not self.model:
            object.__setattr__(self, "model", DEFAULT_MODEL[self.dataset])
        _require(self.model in MODELS, f"--model must be one of {MODELS}, got {self.model!r}")
        _require(self.num_clients >= 1, f"--clients must be >= 1, got {self.num_clients}")
        _require(self.rounds >= 1, f"--rounds must be >= 1, got {self.rounds}")
        _require(self.learning_rate > 0, f"--lr must be > 0, got {self.learning_rate}")
        _require(
            self.lr_schedule in LR_SCHEDULES,
            f"--lr-schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}",
        )
        _require(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")
        _require(
            self.partition in PARTITIONS,
            f"--partition must be one of {PARTITIONS}, got {self.partition!r}",
        )
        _require(
            self.classes_per_client >= 1,
            f"--classes-per-client must be >= 1, got {self.classes_per_client}",
        )
        _require(
            self.dirichlet_alpha > 0, f"--dirichlet-alpha must be > 0, got {self.dirichlet_alpha}"
        )
        _require(self.digest_every >= 1, f"--digest-every must be >= 1, got {self.digest_every}")
        _require(self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}")
        _require(
            not self.batch_sizes or len(self.batch_sizes) == self.num_clients,
            f"--batch-sizes lists {len(self.batch_sizes)} sizes for --clients {self.num_clients}",
        )
        _require(all(b >= 1 for b in self.batch_sizes), "--batch-sizes must all be >= 1")

    def learning_rate_at(self, round_index: int) -> float:
        """The lr of the update that ends round `round_index` (see common.schedule)."""
        return learning_rate_at(self.learning_rate, self.lr_schedule, round_index, self.rounds)

    def batch_size_for(self, client_id: int) -> int:
        """The planned batch size of `client_id` (DEFAULT_BATCH_SIZE without a plan)."""
        return self.batch_sizes[client_id] if self.batch_sizes else DEFAULT_BATCH_SIZE


def config_json(run: RunConfig) -> dict[str, Any]:
    """The run's configuration as JSON values (tuples become lists), for comparisons."""
    result: dict[str, Any] = json.loads(json.dumps(asdict(run)))
    return result


def run_config_from_json(data: dict[str, Any]) -> RunConfig:
    """The inverse of config_json (e.g. a checkpoint's configuration)."""
    fields = dict(data)
    aggregator = AggregatorConfig(**fields.pop("aggregator", {}))
    fields["batch_sizes"] = tuple(fields.get("batch_sizes", ()))
    return RunConfig(aggregator=aggregator, **fields)


def config_differences(ours: RunConfig, theirs: RunConfig) -> list[str]:
    """Names of the settings in which two runs differ (aggregator settings dotted)."""
    a, b = config_json(ours), config_json(theirs)
    top = [k for k in sorted(a.keys() | b.keys()) if k != "aggregator" and a.get(k) != b.get(k)]
    agg_a, agg_b = a.get("aggregator", {}), b.get("aggregator", {})
    inner = [
        f"aggregator.{k}"
        for k in sorted(agg_a.keys() | agg_b.keys())
        if agg_a.get(k) != agg_b.get(k)
    ]
    return top + inner


@dataclass(frozen=True)
class WireConfig:
    """gRPC limits, set in one place for both sides."""

    chunk_bytes: int = 1 << 20  # payloads above this travel as several messages
    max_message_bytes: int = 4 << 20  # gRPC's receive limit; larger messages get RESOURCE_EXHAUSTED
    # HTTP/2 pings on idle streams: a peer that answers none within keepalive_timeout_s
    # (a crashed machine, a cut cable, a frozen process) is dropped. 0 turns them off.
    keepalive_s: float = 10.0
    keepalive_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        _require(self.chunk_bytes >= 64, f"--chunk-bytes must be >= 64, got {self.chunk_bytes}")
        _require(
            self.max_message_bytes >= self.chunk_bytes + 1024,
            "--max-message-bytes must exceed --chunk-bytes by at least 1 KiB of framing",
        )
        _require(self.keepalive_s >= 0, f"--keepalive must be >= 0, got {self.keepalive_s}")
        _require(
            self.keepalive_timeout_s > 0,
            f"--keepalive-timeout must be > 0, got {self.keepalive_timeout_s}",
        )


@dataclass(frozen=True)
class ServerConfig:
    run: RunConfig = field(default_factory=RunConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    host: str = "127.0.0.1"  # loopback by default; "0.0.0.0" to serve other machines
    port: int = 0  # 0: the OS picks a free port, read back after binding
    out_dir: str = "runs/latest"  # metrics.jsonl and summary.json land here
    data_dir: str = "data"  # where the test set for evaluation is read from
    tokens: tuple[str, ...] = ()  # accepted client tokens; empty accepts any client
    threads: int = 2  # torch threads for evaluation: the event loop needs a core too
    # Security (common/tls.py, server/auth.py); no TLS flags: plain text, for loopback.
    tls_cert: str = ""  # PEM certificate chain the server presents; with tls_key: TLS
    tls_key: str = ""  # PEM private key of tls_cert (unencrypted: gRPC reads it once)
    tls_client_ca: str = ""  # mutual TLS: clients must present a certificate from this CA
    tokens_file: str = ""  # more accepted tokens, one per line ('#' comments)
    token_secret_file: str = ""  # instead of a list: a client's token is HMAC(secret, name)
    # Reliability (server/checkpoints.py, the coordinator's deadline):
    checkpoint_every: int = 50  # rounds between checkpoints in out_dir; 0: only at SIGTERM
    resume: bool = False  # continue the run checkpointed in out_dir
    overwrite: bool = False  # a fresh run may replace an earlier run in out_dir (run_dir.py)
    # None: adaptive (server/deadline.py: 10x the quorum's time, >= 10 s), so one silent
    # member cannot stall the run; 0: a round waits for every vote; else fixed seconds.
    round_deadline_s: float | None = None
    quorum: float = 0.5  # ... once at least this fraction of the cohort has voted

    def __post_init__(self) -> None:
        _require(0 <= self.port < 65536, f"--port must be in [0, 65535], got {self.port}")
        _require(self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        _require(
            self.checkpoint_every >= 0,
            f"--checkpoint-every must be >= 0, got {self.checkpoint_every}",
        )
        _require(
            self.round_deadline_s is None or self.round_deadline_s >= 0,
            f"--round-deadline must be >= 0 seconds, got {self.round_deadline_s}",
        )
        _require(0 < self.quorum <= 1, f"--quorum must be in (0, 1], got {self.quorum}")
        _require(
            not (self.resume and self.overwrite),
            "--resume continues the run in its directory and --overwrite discards it: give one",
        )
        _require(bool(self.tls_cert) == bool(self.tls_key), "--tls-cert and --tls-key go together")
        _require(
            not self.tls_client_ca or bool(self.tls_cert),
            "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key",
        )
        _require(
            not (self.token_secret_file and (self.tokens or self.tokens_file)),
            "give --tokens/--tokens-file or --token-secret-file, not both",
        )


@dataclass(frozen=True)
class ClientConfig:
    server: str = "127.0.0.1:50051"  # host:port of the parameter server
    name: str = ""  # stable identity across restarts; empty: derived from the client id
    client_id: int = -1  # -1: the server picks the lowest free id
    batch_size: int = 0  # 0: the size the server plans for this client's id
    identity_file: str = ""  # keeps a generated name across restarts (replicated containers)
    data_dir: str = "data"
    token: str = ""  # sent on every call, when the server requires one
    token_file: str = ""  # ... or read from this file (keeps it out of `ps` and the env)
    tls_ca: str = ""  # PEM CA the server's certificate must chain to; given: TLS
    tls_cert: str = ""  # mutual TLS: the client's certificate chain ...
    tls_key: str = ""  # ... and its private key
    tls_server_name: str = ""  # name the server's certificate must carry; "": --server's host
    threads: int = 1  # one thread keeps gradients bit-reproducible and clients side by side
    wire: WireConfig = field(default_factory=WireConfig)
    connect_timeout_s: float = 30.0  # give up joining after this long without a server
    backoff_max_s: float = 5.0  # reconnect backoff cap

    def __post_init__(self) -> None:
        _require(":" in self.server, f"--server must be HOST:PORT, got {self.server!r}")
        _require(not name_problem(self.name), f"--name: {name_problem(self.name)}")
        _require(self.batch_size >= 0, f"--batch-size must be >= 0, got {self.batch_size}")
        _require(self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        _require(self.connect_timeout_s > 0, "--connect-timeout must be > 0")
        _require(not (self.token and self.token_file), "give --token or --token-file, not both")
        _require(bool(self.tls_cert) == bool(self.tls_key), "--tls-cert and --tls-key go together")
        _require(
            bool(self.tls_ca) or not (self.tls_cert or self.tls_server_name),
            "--tls-cert, --tls-key and --tls-server-name need --tls-ca (the CA to trust)",
        )


def batch_sizes_for(mode: int, num_clients: int) -> tuple[int, ...]:
    """The paper's preset per-client batch sizes; only defined for 15 clients."""
    _require(mode in BATCH_MODES, f"--batch-mode must be one of {sorted(BATCH_MODES)}, got {mode}")
    sizes = BATCH_MODES[mode]
    _require(
        num_clients == len(sizes),
        f"--batch-mode {mode} is defined for {len(sizes)} clients; use --clients {len(sizes)} "
        "or give --batch-sizes",
    )
    return sizes


def plan_batch_sizes(mode: int, text: str, num_clients: int) -> tuple[int, ...]:
    """The server's per-client plan from --batch-mode or --batch-sizes; () for neither."""
    if mode and text:
        raise ConfigError("give --batch-mode or --batch-sizes, not both")
    if mode:
        return batch_sizes_for(mode, num_clients)
    return parse_batch_sizes(text, num_clients) if text else ()


def parse_batch_sizes(text: str, num_clients: int) -> tuple[int, ...]:
    """'4,4,904' -> (4, 4, 904); a single value applies to every client."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--batch-sizes must be comma-separated integers, got {text!r}") from None
    if len(sizes) == 1:
        sizes = sizes * num_clients
    _require(
        len(sizes) == num_clients,
        f"--batch-sizes lists {len(sizes)} sizes for --clients {num_clients}",
    )
    _require(all(s >= 1 for s in sizes), f"--batch-sizes must all be >= 1, got {text!r}")
    return sizes
