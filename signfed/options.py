"""Command-line options -> frozen configs. Every flag also reads SIGNFED_<FLAG> from the
environment (e.g. SIGNFED_ROUNDS=300), so the compose file and the CLI feed one config.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from common.config import (
    DATASETS,
    MODELS,
    PARTITIONS,
    AggregatorConfig,
    ClientConfig,
    ConfigError,
    RunConfig,
    ServerConfig,
    WireConfig,
    plan_batch_sizes,
)
from common.schedule import LR_SCHEDULES

ALGORITHMS = ("llr", "mv")  # what the networked server decodes
SIMULATED_ALGORITHMS = (*ALGORITHMS, "sgd")  # sgd: float32 averaging, simulation only


def env_name(flag: str) -> str:
    """--some-flag -> SIGNFED_SOME_FLAG, the variable that sets its default."""
    return "SIGNFED_" + flag.lstrip("-").upper().replace("-", "_")


def _env(flag: str, default: Any) -> Any:
    """The default of --some-flag: $SIGNFED_SOME_FLAG when set."""
    return os.environ.get(env_name(flag), default)


def _add(group: Any, flag: str, default: Any, help: str, **kwargs: Any) -> None:
    group.add_argument(
        flag, default=_env(flag, default), help=f"{help} (default: %(default)s)", **kwargs
    )


def add_run_options(
    parser: argparse.ArgumentParser, algorithms: tuple[str, ...] = ALGORITHMS
) -> None:
    g = parser.add_argument_group("training run (the server hands these to every client)")
    _add(g, "--dataset", "digits", "dataset", choices=DATASETS)
    _add(
        g,
        "--model",
        "",
        "model; empty picks the dataset's default (mlp for digits, net for MNIST)",
        choices=("", *MODELS),
    )
    _add(g, "--clients", 3, "number of clients the server waits for before round 0", type=int)
    _add(g, "--rounds", 100, "training rounds", type=int)
    _add(g, "--lr", 1e-3, "learning rate: x <- x - lr * sign", type=float)
    _add(
        g,
        "--lr-schedule",
        "constant",
        "lr over the run: constant (the paper), step (x0.1 at 1/2 and 3/4), cosine",
        choices=LR_SCHEDULES,
    )
    _add(g, "--seed", 0, "seed for model init, data shuffles and coins", type=int)
    _add(
        g,
        "--partition",
        "copy",
        "how data is split: copy = every client a shuffled copy "
        "of all data (the paper), iid shards, label-skewed classes, dirichlet",
        choices=PARTITIONS,
    )
    _add(g, "--classes-per-client", 2, "labels per client for --partition classes", type=int)
    _add(g, "--dirichlet-alpha", 0.5, "concentration for --partition dirichlet", type=float)
    _add(g, "--digest-every", 10, "clients check their replica's digest every K rounds", type=int)
    _add(g, "--eval-every", 10, "evaluate the master model every this many rounds", type=int)
    _add(
        g,
        "--batch-mode",
        0,
        "the paper's per-client batch sizes for --clients 15 (1: all 64; 2: nine at 4, six "
        "at 154; 3: twelve at 4, three at 304; 4: fourteen at 4, one at 904); 0: none",
        type=int,
    )
    _add(
        g,
        "--batch-sizes",
        "",
        "per-client batch sizes by client id, e.g. 4,4,904 (one value applies to all); "
        "given to clients started without --batch-size; empty: 64 each",
    )
    a = parser.add_argument_group("aggregation")
    _add(
        a,
        "--algorithm",
        "llr",
        "llr = IT-signSGD, mv = signSGD-MV"
        + (", sgd = float32 averaging" if "sgd" in algorithms else ""),
        choices=algorithms,
    )
    _add(a, "--warmup-rounds", 100, "llr: plain majority for the first T_in rounds", type=int)
    _add(a, "--eps", 1e-5, "llr: eps inside log((1-p)/p)", type=float)
    _add(a, "--weight-clip", 10.0, "llr: clip weights to +-this", type=float)
    _add(a, "--forgetting", 1.0, "llr: forgetting factor on the counts (1 = none)", type=float)
    a.add_argument(
        "--pooled",
        action="store_true",
        default=_env("--pooled", "") in ("1", "true"),
        help="llr: one crossing probability per client instead of per coordinate",
    )


def add_wire_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("wire")
    _add(
        g,
        "--chunk-bytes",
        1 << 20,
        "payloads above this many bytes are streamed in chunks",
        type=int,
    )
    _add(g, "--max-message-bytes", 4 << 20, "largest gRPC message accepted", type=int)
    _add(
        g,
        "--keepalive",
        10.0,
        "seconds between HTTP/2 pings on an idle connection (0: none)",
        type=float,
    )
    _add(
        g,
        "--keepalive-timeout",
        10.0,
        "a peer that answers no ping within this many seconds is dropped",
        type=float,
    )


def add_server_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("server")
    _add(g, "--host", "127.0.0.1", "address to bind; 0.0.0.0 serves other machines")
    _add(g, "--port", 50051, "port to bind; 0 picks a free one", type=int)
    _add(g, "--port-file", "", "write the bound port to this file (for launchers)")
    _add(g, "--out", "runs/latest", "directory for metrics.jsonl and summary.json")
    _add(g, "--threads", 2, "torch threads for evaluation", type=int)
    r = parser.add_argument_group("reliability")
    _add(
        r,
        "--checkpoint-every",
        50,
        "write <out>/checkpoint.npz every this many rounds (0: only at SIGTERM)",
        type=int,
    )
    _add(
        r,
        "--resume",
        "",
        "continue the run checkpointed in this directory (it becomes --out); run "
        "settings come from the checkpoint",
    )
    r.add_argument(
        "--continue",
        dest="continue_run",
        action="store_true",
        default=_env("--continue", "") in ("1", "true"),
        help="when --out holds an unfinished run's checkpoint, resume it (as --resume "
        "OUT); else start a fresh run: for restart policies (compose) that rerun one command",
    )
    _add(
        r,
        "--round-deadline",
        "auto",
        "seconds after which a round closes without the missing votes, once a quorum "
        "has voted; auto: 10x the time the quorum took, at least 10 s; 0: wait for "
        "every vote",
        type=_deadline,
    )
    _add(r, "--quorum", 0.5, "fraction of the cohort a deadline close needs", type=float)
    add_overwrite_option(r)
    add_server_security_options(parser)


def add_overwrite_option(group: Any) -> None:
    group.add_argument(
        "--overwrite",
        action="store_true",
        default=_env("--overwrite", "") in ("1", "true"),
        help="a fresh run may replace the earlier run in --out: its files are removed "
        "first (without it such an --out is refused)",
    )


def _deadline(text: str) -> float | None:
    """--round-deadline: 'auto' (None) or seconds."""
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or seconds, got {text!r}") from None


def add_server_security_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("security (README: Security)")
    _add(g, "--tls-cert", "", "PEM certificate chain to serve TLS with; empty: plain text")
    _add(g, "--tls-key", "", "PEM private key of --tls-cert")
    _add(g, "--tls-client-ca", "", "mutual TLS: require client certificates from this CA")
    _add(g, "--tokens", "", "comma-separated client tokens to accept; empty accepts any")
    _add(g, "--tokens-file", "", "more tokens to accept, one per line ('#' comments)")
    _add(
        g,
        "--token-secret-file",
        "",
        "instead of a token list: a client's token is HMAC-SHA256(secret, its --name), "
        "printed by `signfed token`",
    )


def add_tls_client_options(group: Any) -> None:
    """How a client (or `signfed status`) reaches a TLS server."""
    _add(group, "--tls-ca", "", "PEM CA the server's certificate must chain to; given: TLS")
    _add(group, "--tls-cert", "", "mutual TLS: this client's PEM certificate chain")
    _add(group, "--tls-key", "", "mutual TLS: the PEM private key of --tls-cert")
    _add(
        group,
        "--tls-server-name",
        "",
        "name the server's certificate must carry, when --server's host is not one of them",
    )


def add_client_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("client")
    _add(g, "--server", "127.0.0.1:50051", "parameter server HOST:PORT")
    _add(g, "--name", "", "stable name across restarts; empty: client-<id>")
    _add(g, "--client-id", -1, "ask for this id; -1 takes the lowest free one", type=int)
    _add(
        g,
        "--batch-size",
        0,
        "this client's minibatch size; 0 takes the server's plan for its id",
        type=int,
    )
    _add(
        g,
        "--identity-file",
        "",
        "with no --name: keep a generated name in this file, so a restart rejoins as the "
        "same client",
    )
    _add(g, "--token", "", "credential, when the server requires one")
    _add(g, "--token-file", "", "read the token from this file instead of --token")
    add_tls_client_options(g)
    _add(g, "--threads", 1, "torch threads for the gradient", type=int)
    _add(
        g, "--connect-timeout", 60.0, "give up after this many seconds without a server", type=float
    )


def add_simulate_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("simulation")
    _add(g, "--out", "runs/simulate", "run directory: metrics, summary, checkpoint")
    _add(
        g,
        "--threads",
        1,
        "torch threads; keep the clients' count (1) for bits equal to a networked run",
        type=int,
    )
    _add(
        g,
        "--checkpoint-every",
        100,
        "write a checkpoint every this many rounds (0: never); a rerun with the same "
        "--out and settings resumes from it",
        type=int,
    )


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _word_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_batch_modes_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("experiment")
    _add(g, "--dataset", "mnist", "dataset", choices=DATASETS)
    _add(g, "--rounds", 1000, "rounds per run (the paper: 3000)", type=int)
    _add(g, "--seeds", 2, "runs per setting, seeds 0 .. S-1", type=int)
    _add(g, "--modes", "1,2,3,4", "batch modes to run", type=_int_list)
    _add(g, "--algorithms", "llr,mv,sgd", "algorithms to run", type=_word_list)
    _add(g, "--out", "runs/batch-modes", "where the CSVs, table and figures go")
    _add(g, "--runs-dir", "", "one folder per run (rerun to resume); empty: OUT/runs")
    _add(g, "--workers", os.cpu_count() or 1, "runs at a time, one torch thread each", type=int)
    _add(g, "--eval-every", 50, "evaluate every this many rounds", type=int)
    _add(g, "--lr", 1e-3, "lr of llr and mv (the paper's)", type=float)
    _add(g, "--sgd-lr", 0.1, "lr of the float32 sgd baseline (steps by lr * g)", type=float)
    _add(g, "--lr-schedule", "constant", "lr over each run", choices=LR_SCHEDULES)
    _add(g, "--warmup-rounds", 100, "llr: plain majority for the first T_in rounds", type=int)
    _add(g, "--checkpoint-every", 100, "rounds between a run's checkpoints", type=int)
    g.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the CSVs, table and figures from the finished runs",
    )


def batch_modes_config(args: argparse.Namespace) -> Any:
    from signfed.experiment import BatchModesConfig  # keeps `signfed status` light

    modes = args.modes if isinstance(args.modes, tuple) else _int_list(args.modes)
    algorithms = args.algorithms
    if not isinstance(algorithms, tuple):
        algorithms = _word_list(algorithms)
    return BatchModesConfig(
        dataset=args.dataset,
        rounds=args.rounds,
        seeds=args.seeds,
        modes=modes,
        algorithms=algorithms,
        out_dir=args.out,
        runs_dir=args.runs_dir,
        data_dir=args.data_dir,
        workers=int(args.workers),
        eval_every=args.eval_every,
        lr=args.lr,
        sgd_lr=args.sgd_lr,
        lr_schedule=args.lr_schedule,
        warmup_rounds=args.warmup_rounds,
        checkpoint_every=args.checkpoint_every,
    )


def add_status_options(parser: argparse.ArgumentParser) -> None:
    _add(parser, "--server", "127.0.0.1:50051", "parameter server HOST:PORT")
    _add(parser, "--timeout", 5.0, "seconds to wait for an answer", type=float)
    add_tls_client_options(parser)


def add_data_option(parser: argparse.ArgumentParser) -> None:
    _add(parser, "--data-dir", "data", "where datasets live (see `signfed fetch`)")


def run_config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        dataset=args.dataset,
        model=args.model,
        num_clients=args.clients,
        rounds=args.rounds,
        learning_rate=args.lr,
        lr_schedule=args.lr_schedule,
        seed=args.seed,
        partition=args.partition,
        classes_per_client=args.classes_per_client,
        dirichlet_alpha=args.dirichlet_alpha,
        digest_every=args.digest_every,
        eval_every=args.eval_every,
        batch_sizes=plan_batch_sizes(args.batch_mode, args.batch_sizes, args.clients),
        aggregator=AggregatorConfig(
            algorithm=args.algorithm,
            warmup_rounds=args.warmup_rounds,
            eps=args.eps,
            weight_clip=args.weight_clip,
            forgetting=args.forgetting,
            pooled=bool(args.pooled),
            seed=args.seed,
        ),
    )


def wire_config(args: argparse.Namespace) -> WireConfig:
    return WireConfig(
        chunk_bytes=args.chunk_bytes,
        max_message_bytes=args.max_message_bytes,
        keepalive_s=args.keepalive,
        keepalive_timeout_s=args.keepalive_timeout,
    )


def server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        run=run_config(args),
        wire=wire_config(args),
        host=args.host,
        port=args.port,
        out_dir=_out_dir(args),
        data_dir=args.data_dir,
        tokens=tuple(t for t in args.tokens.split(",") if t),
        tokens_file=args.tokens_file,
        token_secret_file=args.token_secret_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        threads=args.threads,
        checkpoint_every=args.checkpoint_every,
        resume=bool(args.resume),
        overwrite=bool(args.overwrite),
        round_deadline_s=args.round_deadline,
        quorum=args.quorum,
    )


def _out_dir(args: argparse.Namespace) -> str:
    """--resume DIR continues in DIR; an --out pointing elsewhere is a contradiction."""
    if not args.resume:
        return str(args.out)
    if args.out not in (_env("--out", "runs/latest"), args.resume):
        raise ConfigError(f"--resume {args.resume} continues in that directory; drop --out")
    return str(args.resume)


def client_config(args: argparse.Namespace) -> ClientConfig:
    return ClientConfig(
        server=args.server,
        name=args.name or (f"client-{args.client_id}" if args.client_id >= 0 else ""),
        client_id=args.client_id,
        batch_size=args.batch_size,
        identity_file=args.identity_file,
        data_dir=args.data_dir,
        token=args.token,
        token_file=args.token_file,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
        threads=args.threads,
        wire=wire_config(args),
        connect_timeout_s=args.connect_timeout,
    )


def run_flags(run: RunConfig, wire: WireConfig) -> list[str]:
    """The inverse of run_config + wire_config: flags that rebuild the same configs."""
    agg = run.aggregator
    flags = [
        "--dataset", run.dataset, "--model", run.model, "--clients", str(run.num_clients),
        "--rounds", str(run.rounds), "--lr", repr(run.learning_rate),
        "--lr-schedule", run.lr_schedule, "--seed", str(run.seed),
        "--partition", run.partition, "--classes-per-client", str(run.classes_per_client),
        "--dirichlet-alpha", repr(run.dirichlet_alpha), "--digest-every", str(run.digest_every),
        "--eval-every", str(run.eval_every), "--algorithm", agg.algorithm,
        "--warmup-rounds", str(agg.warmup_rounds), "--eps", repr(agg.eps),
        "--weight-clip", repr(agg.weight_clip), "--forgetting", repr(agg.forgetting),
        "--chunk-bytes", str(wire.chunk_bytes), "--max-message-bytes", str(wire.max_message_bytes),
        "--keepalive", repr(wire.keepalive_s),
        "--keepalive-timeout", repr(wire.keepalive_timeout_s),
    ]  # fmt: skip
    if run.batch_sizes:
        flags += ["--batch-sizes", ",".join(map(str, run.batch_sizes))]
    return flags + (["--pooled"] if agg.pooled else [])
