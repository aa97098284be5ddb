"""Run configuration: one frozen dataclass per concern, validated on construction.

Each field declares its flag and help (`setting`, common/flags.py): the CLI's flags,
the SIGNFED_* variables and --config files are generated from these fields, so a new
knob is one field. An invalid value fails fast with a message naming the flag.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# re-exported: settings are imported from common.config
from common.aggregator_config import ABSTENTIONS as ABSTENTIONS
from common.aggregator_config import ZEROS as ZEROS
from common.aggregator_config import AggregatorConfig
from common.codecs import available as available_codecs
from common.config_error import ConfigError as ConfigError
from common.config_error import require
from common.flags import int_tuple, joined, setting
from common.registry import dataset_names, default_model, model_choices, model_names
from common.sampling import participants
from common.schedule import LR_SCHEDULES, learning_rate_at
from common.sizes import SIZE_DISTRIBUTIONS

PROTOCOL_VERSION = "signfed.v5"  # v5: split learning (split_variant, cut_layer, SplitTensor)
CODECS = available_codecs()

PARTITIONS = ("copy", "iid", "classes", "dirichlet")

_PLUGIN = " (names a plugin registers need its --plugin)"  # common/registry.py
DEFAULT_BATCH_SIZE = 64  # what a client gets when neither it nor the server's plan chooses


@dataclass(frozen=True)
class RunConfig:
    """What every participant must agree on; the server hands it to joiners."""

    # names from common/registry.py, asked for when a parser is built: --plugin adds some
    dataset: str = setting("digits", flag="--dataset", help="dataset", choices=dataset_names)
    # empty: the dataset's default (its registry entry's default_model)
    model: str = setting(
        "",
        flag="--model",
        help="model; empty picks the dataset's default (mlp for digits, net for MNIST)",
        choices=model_choices,
    )
    # the cohort size the server waits for before round 0
    num_clients: int = setting(
        3, flag="--clients", help="number of clients the server waits for before round 0"
    )
    rounds: int = setting(
        100, flag="--rounds", help="training rounds (with --async: updates received)"
    )
    # paper: constant 1e-3, no momentum, no weight decay
    learning_rate: float = setting(1e-3, flag="--lr", help="learning rate: x <- x - lr * sign")
    # the paper's; "step" / "cosine" decay calm late rounds
    lr_schedule: str = setting(
        "constant",
        flag="--lr-schedule",
        help="lr over the run: constant (the paper), step (x0.1 at 1/2 and 3/4), cosine",
        choices=LR_SCHEDULES,
    )
    # model init, data shuffles, zero/tie coins
    seed: int = setting(0, flag="--seed", help="seed for model init, data shuffles and coins")
    # "copy": each client holds a shuffled copy of all data (paper)
    partition: str = setting(
        "copy",
        flag="--partition",
        help="how data is split: copy = every client a shuffled copy of all data (the "
        "paper), iid shards, label-skewed classes, dirichlet",
        choices=PARTITIONS,
    )
    classes_per_client: int = setting(  # for partition "classes"
        2, flag="--classes-per-client", help="labels per client for --partition classes"
    )
    dirichlet_alpha: float = setting(  # for partition "dirichlet": smaller is more skewed
        0.5, flag="--dirichlet-alpha", help="concentration for --partition dirichlet"
    )
    # "equal": today's shards; skewed sizes model federations where few clients hold most
    partition_sizes: str = setting(
        "equal",
        flag="--partition-sizes",
        help="examples per client for --partition iid or classes: equal, lognormal "
        "(--size-sigma) or powerlaw (--size-alpha)",
        choices=SIZE_DISTRIBUTIONS,
    )
    size_sigma: float = setting(  # 1.0: the largest of 100 clients holds ~10x the median
        1.0, flag="--size-sigma", help="std of log(size) for --partition-sizes lognormal"
    )
    size_alpha: float = setting(  # 1.5: heavy-tailed, yet the mean size is finite
        1.5,
        flag="--size-alpha",
        help="tail exponent for --partition-sizes powerlaw (smaller: heavier tail)",
    )
    # K: clients check their replica against the master every K rounds
    digest_every: int = setting(
        10, flag="--digest-every", help="clients check their replica's digest every K rounds"
    )
    eval_every: int = setting(
        10, flag="--eval-every", help="evaluate the master model every this many rounds"
    )
    # Per-client batch sizes by client id, handed to clients that do not choose their
    # own (a replicated compose service cannot give each replica its own flag).
    # Empty: DEFAULT_BATCH_SIZE for those clients.
    batch_sizes: tuple[int, ...] = setting(
        (),
        flag="--batch-sizes",
        help="per-client batch sizes by client id, e.g. 4,4,904 (one value applies to all); "
        "given to clients started without --batch-size; empty: 64 each",
        parse=int_tuple,
        show=joined,
    )
    # ---- local training (fedavg): the steps a selected client takes per round ----------
    local_epochs: int = setting(
        1, flag="--local-epochs", help="fedavg: local epochs over the client's data per round"
    )
    # K steps of the client's batch size instead of whole epochs (0: epochs)
    local_steps: int = setting(
        0,
        flag="--local-steps",
        help="fedavg: local SGD steps per round instead of epochs (0: epochs)",
    )
    client_momentum: float = setting(
        0.0, flag="--client-momentum", help="fedavg: momentum of the clients' local SGD"
    )
    weight_decay: float = setting(
        0.0, flag="--weight-decay", help="fedavg: weight decay of the clients' local SGD"
    )
    # K of the M clients train each round, drawn by a sampler seeded by (seed, round): the
    # server and every client draw the same set, so nothing announces it. 0: all.
    clients_per_round: int = setting(
        0,
        flag="--clients-per-round",
        help="partial participation: clients drawn to train each round (0: all)",
    )
    # How updates and decisions travel (common/codecs.py); empty: the algorithm's own
    # (sign1 for the signSGD family, float32 for sgd). The server announces both.
    update_encoding: str = setting(
        "",
        flag="--update-encoding",
        help="encoding of the clients' updates; empty: the algorithm's (sgd also takes "
        "float16, bfloat16)",
        choices=("", *CODECS),
    )
    decision_encoding: str = setting(
        "",
        flag="--decision-encoding",
        help="encoding of the broadcast decision; empty: the algorithm's",
        choices=("", *CODECS),
    )
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)

    def __post_init__(self) -> None:
        datasets, models = dataset_names(), model_names()
        require(
            self.dataset in datasets,
            f"--dataset must be one of {datasets}, got {self.dataset!r}{_PLUGIN}",
        )
        if not self.model:
            object.__setattr__(self, "model", default_model(self.dataset))
        require(
            self.model in models, f"--model must be one of {models}, got {self.model!r}{_PLUGIN}"
        )
        require(self.num_clients >= 1, f"--clients must be >= 1, got {self.num_clients}")
        require(self.rounds >= 1, f"--rounds must be >= 1, got {self.rounds}")
        require(self.learning_rate > 0, f"--lr must be > 0, got {self.learning_rate}")
        require(
            self.lr_schedule in LR_SCHEDULES,
            f"--lr-schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}",
        )
        require(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")
        require(
            self.partition in PARTITIONS,
            f"--partition must be one of {PARTITIONS}, got {self.partition!r}",
        )
        require(
            self.classes_per_client >= 1,
            f"--classes-per-client must be >= 1, got {self.classes_per_client}",
        )
        require(
            self.dirichlet_alpha > 0, f"--dirichlet-alpha must be > 0, got {self.dirichlet_alpha}"
        )
        require(
            self.partition_sizes in SIZE_DISTRIBUTIONS,
            f"--partition-sizes must be one of {SIZE_DISTRIBUTIONS}, got {self.partition_sizes!r}",
        )
        require(
            self.partition_sizes == "equal" or self.partition in ("iid", "classes"),
            f"--partition-sizes {self.partition_sizes} needs --partition iid or classes; "
            + (
                "--partition copy gives every client all the data"
                if self.partition == "copy"
                else f"--partition {self.partition} draws its own sizes"
            ),
        )
        require(self.size_sigma > 0, f"--size-sigma must be > 0, got {self.size_sigma}")
        require(self.size_alpha > 0, f"--size-alpha must be > 0, got {self.size_alpha}")
        require(self.digest_every >= 1, f"--digest-every must be >= 1, got {self.digest_every}")
        require(self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}")
        require(
            not self.batch_sizes or len(self.batch_sizes) == self.num_clients,
            f"--batch-sizes lists {len(self.batch_sizes)} sizes for --clients {self.num_clients}",
        )
        require(all(b >= 1 for b in self.batch_sizes), "--batch-sizes must all be >= 1")
        require(self.local_epochs >= 1, f"--local-epochs must be >= 1, got {self.local_epochs}")
        require(self.local_steps >= 0, f"--local-steps must be >= 0, got {self.local_steps}")
        require(
            0 <= self.client_momentum < 1,
            f"--client-momentum must be in [0, 1), got {self.client_momentum}",
        )
        require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        require(
            0 <= self.clients_per_round <= self.num_clients,
            f"--clients-per-round must be in [0, --clients {self.num_clients}], "
            f"got {self.clients_per_round}",
        )
        for flag, name in (
            ("--update-encoding", self.update_encoding),
            ("--decision-encoding", self.decision_encoding),
        ):
            require(name in ("", *CODECS), f"{flag} must be one of {CODECS}, got {name!r}")

    def learning_rate_at(self, round_index: int) -> float:
        """The lr of the update that ends round `round_index` (see common.schedule)."""
        return learning_rate_at(self.learning_rate, self.lr_schedule, round_index, self.rounds)

    def drawn(self, round_index: int) -> tuple[int, ...]:
        """The ids that train in round t: all, or the --clients-per-round K drawn for it
        (common/sampling.participants; the server and every client draw alike)."""
        return participants(self.seed, round_index, self.num_clients, self.clients_per_round)

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

    # payloads above this travel as several messages
    chunk_bytes: int = setting(
        1 << 20, flag="--chunk-bytes", help="payloads above this many bytes are streamed in chunks"
    )
    # gRPC's receive limit; larger messages get RESOURCE_EXHAUSTED
    max_message_bytes: int = setting(
        4 << 20, flag="--max-message-bytes", help="largest gRPC message accepted"
    )
    # HTTP/2 pings on idle streams: a peer that answers none within keepalive_timeout_s
    # (a crashed machine, a cut cable, a frozen process) is dropped. 0 turns them off.
    keepalive_s: float = setting(
        10.0,
        flag="--keepalive",
        help="seconds between HTTP/2 pings on an idle connection (0: none)",
    )
    keepalive_timeout_s: float = setting(
        10.0,
        flag="--keepalive-timeout",
        help="a peer that answers no ping within this many seconds is dropped",
    )

    def __post_init__(self) -> None:
        require(self.chunk_bytes >= 64, f"--chunk-bytes must be >= 64, got {self.chunk_bytes}")
        require(
            self.max_message_bytes >= self.chunk_bytes + 1024,
            "--max-message-bytes must exceed --chunk-bytes by at least 1 KiB of framing",
        )
        require(self.keepalive_s >= 0, f"--keepalive must be >= 0, got {self.keepalive_s}")
        require(
            self.keepalive_timeout_s > 0,
            f"--keepalive-timeout must be > 0, got {self.keepalive_timeout_s}",
        )
