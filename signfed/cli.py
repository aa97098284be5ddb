"""`signfed` command: server, client, local cluster, simulation, experiments, status,
tokens, the algorithms' table, data fetching.

Subcommands import what they need when they run: `signfed status` (the compose
healthcheck) must not pay for importing torch.

Exit codes: 2 for a usage error (a bad flag or value, an unreadable --config, a --plugin
that does not load: one `signfed...: error:` line, no traceback), 1 for a failure at run
time; `signfed client` adds 75 (client/outcome.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import NoReturn

from common.batch_plan import batch_sizes_text
from common.config import ConfigError
from common.fetch import FETCHABLE, SOURCE_HELP
from signfed import options, plugins


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, exit 2: argparse would print the usage first, 30 lines
    for `signfed server`, and the line that says what is wrong scrolls away."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _server(args: argparse.Namespace) -> int:
    from server.app import serve

    if args.continue_run and not args.resume:
        from server.checkpoints import checkpoint_path

        if checkpoint_path(args.out).exists():  # an unfinished run: it goes on
            args.resume, args.overwrite = args.out, False
    config = options.server_config(args)
    if config.resume:  # settings not given again are the checkpoint's
        from signfed.resume import given_dests, resumed_config

        given = given_dests(build_parser(), args.argv) | getattr(args, "from_config", set())
        config = resumed_config(config, args, given)
    summary = asyncio.run(serve(config, port_file=args.port_file))
    return 0 if summary["error"] is None else 1


def _client(args: argparse.Namespace) -> int:
    """Exit codes (client/outcome.py): 0 finished, 1 the run failed, 2 refused,
    75 interrupted or no server: start again later."""
    import grpc
    import torch

    from client import outcome
    from client.session import ClientSession
    from common.data import DataError

    config = options.client_config(args)
    torch.set_num_threads(config.threads)
    try:
        result = ClientSession(config).run()
    except grpc.RpcError as exc:  # the server's status message says what to change
        code = exc.code()  # type: ignore[attr-defined]
        print(f"signfed client: {code.name}: {exc.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        # A refusal (credentials, settings, a full cohort) is 2: retrying cannot help;
        # anything else went wrong at run time: 1.
        return outcome.EXIT_REFUSED if code in outcome.REFUSALS else outcome.EXIT_FAILED
    except outcome.RunFailed as exc:
        print(f"signfed client: the server reports the run FAILED: {exc}", file=sys.stderr)
        return outcome.EXIT_FAILED
    except outcome.ServerGone as exc:  # the only ConnectionError a session lets out
        print(f"signfed client: {exc}", file=sys.stderr)
        return outcome.EXIT_TEMPFAIL
    except DataError as exc:  # the server named a dataset this machine lacks: run time, 1
        print(f"signfed client: {exc}", file=sys.stderr)
        return outcome.EXIT_FAILED
    logging.getLogger("signfed").info(
        "client done: %d rounds, %d resyncs, digest %s",
        result.rounds_done,
        result.resyncs,
        result.model_digest.hex()[:16],
    )
    return outcome.EXIT_FINISHED


def _local(args: argparse.Namespace) -> int:
    from signfed.local import run_local

    return run_local(args)


def _simulate(args: argparse.Namespace) -> int:
    import torch

    from signfed.async_replay import run_async
    from signfed.progress import Progress
    from signfed.run_end import report_lines
    from signfed.simulation import Simulation
    from signfed.split_simulation import SplitSimulation

    config = options.simulation_config(args)
    torch.set_num_threads(config.threads)
    run = config.run
    steps = "updates" if config.asynchrony.enabled else "rounds"  # what --rounds counts
    mode = f" ({config.asynchrony.mode})" if config.asynchrony.enabled else ""
    print(
        f"signfed simulate: {run.num_clients} clients, batch sizes "
        f"{batch_sizes_text([run.batch_size_for(i) for i in range(run.num_clients)])}, "
        f"{run.aggregator.algorithm}{mode} on {run.dataset}/{run.model}, {run.rounds} "
        f"{steps} -> {args.out}"
    )
    if config.asynchrony.enabled:
        s = run_async(config, Progress(run.rounds))
    elif config.split_run:
        s = SplitSimulation(config).run_all(Progress(run.rounds))
    else:
        s = Simulation(config).run_all(Progress(run.rounds))
    accuracy = s["final_accuracy"]
    print(
        f"done: {s['rounds']} {steps} in {s['wall_seconds']:.1f}s  final accuracy "
        f"{accuracy if accuracy is None else f'{accuracy:.4f}'}  digest {s['model_digest'][:16]}"
    )
    for line in report_lines(Path(args.out)):
        print(line)
    return 0


def _batch_modes(args: argparse.Namespace) -> int:
    from signfed.experiment import run_batch_modes
    from signfed.experiment_report import write_report

    config = options.batch_modes_config(args)
    specs = run_batch_modes(config) if not args.report_only else None
    write_report(config, specs)
    return 0


def _robustness(args: argparse.Namespace) -> int:
    from signfed.robustness import run_robustness
    from signfed.robustness_report import write_report

    config = options.robustness_config(args)
    write_report(config, None if args.report_only else run_robustness(config))
    return 0


def _async_experiment(args: argparse.Namespace) -> int:
    from signfed.async_experiment import run_async_experiment
    from signfed.async_report import write_report

    config = options.async_experiment_config(args)
    write_report(config, None if args.report_only else run_async_experiment(config))
    return 0


def _status(args: argparse.Namespace) -> int:
    from signfed.status import run_status

    # Checked here, not left to gRPC: it would answer them as a server that is down (1).
    if ":" not in args.server:
        raise ConfigError(f"--server must be HOST:PORT, got {args.server!r}")
    if not args.timeout > 0:  # NaN too
        raise ConfigError(f"--timeout must be > 0, got {args.timeout}")
    return run_status(args)


def _token(args: argparse.Namespace) -> int:
    from common.names import name_problem
    from common.tokens import client_token, read_secret_file

    if problem := name_problem(args.name):  # no token for a name the server refuses
        raise ConfigError(f"--name: {problem}")
    print(client_token(read_secret_file(args.secret_file, "--secret-file"), args.name))
    return 0


def _algorithms(args: argparse.Namespace) -> int:
    from signfed.algorithm_table import algorithm_table

    print(algorithm_table(), end="")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from common.fetch import main as fetch_main

    if args.source and not Path(args.source).exists():  # a flag naming nothing: usage, 2
        raise ConfigError(f"--source {args.source}: no such file or directory")
    source = ["--source", args.source] if args.source else []
    return fetch_main(["--dataset", args.dataset, "--data-dir", args.data_dir, *source])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(  # its subcommands' parsers are _Parsers too (argparse's parser_class)
        prog="signfed", description="IT-signSGD: 1-bit federated training over gRPC"
    )
    options.add_log_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="run the parameter server")
    options.add_run_options(server)
    options.add_wire_options(server)
    options.add_server_options(server)
    options.add_config_option(server)
    server.set_defaults(handler=_server)

    client = sub.add_parser("client", help="run one client against a server")
    options.add_client_options(client)
    options.add_attack_options(client)
    options.add_wire_options(client)
    options.add_config_option(client)
    client.set_defaults(handler=_client)

    local = sub.add_parser("local", help="a server and M client processes on 127.0.0.1")
    options.add_run_options(local)
    options.add_wire_options(local)
    options.add_local_options(local)
    options.add_attack_options(local)
    options.add_config_option(local)
    local.set_defaults(handler=_local)

    simulate = sub.add_parser(
        "simulate", help="all clients in one process, no gRPC: same bits as `local`"
    )
    options.add_run_options(simulate)
    options.add_wire_options(simulate)
    options.add_simulate_options(simulate)
    options.add_attack_options(simulate)
    options.add_config_option(simulate)
    simulate.set_defaults(handler=_simulate)

    experiment = sub.add_parser("experiment", help="grids of simulated runs, with figures")
    grids = experiment.add_subparsers(dest="experiment", required=True)
    batch_modes = grids.add_parser(
        "batch-modes",
        help="the paper's Figure 1: batch modes x {llr, mv, sgd} x seeds; resumable",
    )
    options.add_batch_modes_options(batch_modes)
    batch_modes.set_defaults(handler=_batch_modes)
    robustness = grids.add_parser(
        "robustness",
        help="robust rules and sign defences under attack: partitions x attackers x attacks "
        "x defences x seeds; resumable",
    )
    options.add_robustness_options(robustness)
    robustness.set_defaults(handler=_robustness)
    asynchronous = grids.add_parser(
        "async",
        help="sync FedAvg (waiting, or a deadline) vs FedAsync and FedBuff with a straggler, "
        "on a virtual clock; resumable",
    )
    options.add_async_experiment_options(asynchronous)
    asynchronous.set_defaults(handler=_async_experiment)

    status = sub.add_parser(
        "status", help="ask a server for its state; exit 1 if it does not answer"
    )
    options.add_status_options(status)
    status.set_defaults(handler=_status)

    token = sub.add_parser("token", help="print a client's token under a --token-secret-file")
    options.add_token_options(token)
    token.set_defaults(handler=_token)

    algorithms = sub.add_parser(
        "algorithms", help="list the registered algorithms and their encodings (Markdown)"
    )
    algorithms.set_defaults(handler=_algorithms)

    for name in plugins.COMMANDS:  # --plugin: imported before parsing (signfed/plugins.py)
        plugins.add_option(options.subcommand(parser, name))
    fetch = sub.add_parser("fetch", help="download and checksum a dataset")
    options.add_fetch_options(fetch, FETCHABLE, SOURCE_HELP)
    fetch.set_defaults(handler=_fetch)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`argv` parsed; with --config FILE, the file's settings are the defaults that the
    environment and the command line override. ConfigError for a bad file."""
    args = parser.parse_args(argv)
    args.from_config = set()
    if getattr(args, "config", ""):
        command = options.subcommand(parser, args.command)
        values = options.config_file_values(args.config, args.command, command)
        command.set_defaults(**values)
        args = parser.parse_args(argv)
        args.from_config = set(values)  # given, for --resume (signfed/resume.py)
    args.argv = argv  # `--resume` tells the flags given from the defaults (signfed/resume.py)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        plugins.load(plugins.requested(argv))  # first: their names are the parser's choices
        parser = build_parser()
        args = parse(parser, argv)
    except ConfigError as exc:
        print(f"signfed: error: {exc}", file=sys.stderr)
        return 2
    try:
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )
    except ValueError as exc:  # "Unknown level: 'x'": a bad value like any other, 2
        print(f"{parser.prog}: error: --log-level: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except ConfigError as exc:  # the message names the flag (or the file) to change
        # One line, no usage: the command line parsed; a setting or a file is wrong.
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
