"""`signfed local`: a parameter server and M client processes on 127.0.0.1.

The server binds port 0 and publishes the port it got in a file; the clients are
started against it. Until round 0 the launcher says how many clients have joined (the
server's Status); then progress comes from the server's metrics.jsonl. Each process
logs to its own file in the run directory, which holds one run: an earlier run there is
refused, or with --overwrite removed first (server/run_dir.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import flags
from common.batch_plan import batch_sizes_text
from common.config import RunConfig
from common.split_config import SPLIT, check_split_run
from signfed import options, plugins
from signfed.progress import ClientWait, FollowMetrics, Progress
from signfed.run_end import report_lines

PORT_WAIT_S = 300.0  # loading MNIST and building the model can take a while on a busy box
CLIENT_EXIT_WAIT_S = 30.0


def spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """`signfed ARGV` in a child process of this Python, logging to `log_path`."""
    with open(log_path, "wb") as log:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "signfed.cli", *argv], stdout=log, stderr=subprocess.STDOUT
        )


def client_argv(port: int, client_id: int, *extra: str) -> list[str]:
    """`signfed client` number `client_id`, named client-<id>, for a server on this host."""
    return ["client", "--server", f"127.0.0.1:{port}", "--client-id", str(client_id),
            "--name", f"client-{client_id}", *extra]  # fmt: skip


def _wait_for_port(port_file: Path, server: subprocess.Popen[bytes], log_path: Path) -> int:
    """The port the server bound; 0 (after saying why, in one line) when it never did."""
    deadline = time.monotonic() + PORT_WAIT_S
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if server.poll() is not None:
            print(
                f"signfed local: the server exited with {server.returncode} before listening: "
                f"{last_line(log_path)} (see {log_path})",
                file=sys.stderr,
            )
            return 0
        time.sleep(0.1)
    print(f"signfed local: the server did not listen within {PORT_WAIT_S:.0f}s (see {log_path})")
    return 0


def last_line(log_path: Path) -> str:
    """The last non-empty line of a log: a failed signfed's error (or its exception)."""
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else "(its log is empty)"


def server_threads(chosen: int, run: RunConfig) -> int:
    """--server-threads, or its default: 2 for evaluation, 1 where the server trains a
    split run's part (its bits then equal `simulate`'s, whose --threads is 1)."""
    if chosen:
        return chosen
    return 1 if run.aggregator.algorithm == SPLIT else 2


def run_local(args: argparse.Namespace) -> int:
    from common.async_config import check_async_run
    from common.data import check_available
    from server.run_dir import LOCAL_LOGS, start_fresh

    run = options.run_config(args)
    sizes = [run.batch_size_for(i) for i in range(run.num_clients)]
    wire = options.wire_config(args)
    attack = options.attack_config(args)  # every client gets it; the seeded ids attack
    asynchrony = options.async_config(args)  # the server's alone: clients learn the mode
    check_async_run(asynchrony, run)
    split = options.split_config(args)  # the server's too: it announces them
    check_split_run(split, run)
    out = Path(args.out)
    # Before anything starts: 1 + M processes would each fail on a missing dataset.
    check_available(run.dataset, args.data_dir)
    start_fresh(out, overwrite=args.overwrite, logs=LOCAL_LOGS)
    out.mkdir(parents=True, exist_ok=True)
    port_file = out / "server.port"
    server_argv = [
        "server", *options.run_flags(run, wire), "--host", "127.0.0.1", "--port", "0",
        "--port-file", str(port_file), "--out", str(out), "--data-dir", args.data_dir,
        "--threads", str(server_threads(args.server_threads, run)),
        *(["--overwrite"] if args.overwrite else []),
        *flags.to_argv(asynchrony), *flags.to_argv(split), *plugins.argv(),
    ]  # fmt: skip
    print(
        f"signfed local: {run.num_clients} clients, batch sizes {batch_sizes_text(sizes)}, "
        f"{run.aggregator.algorithm}{f' ({asynchrony.mode})' if asynchrony.enabled else ''} on "
        f"{run.dataset}/{run.model}, {run.rounds} {'updates' if asynchrony.enabled else 'rounds'} "
        f"-> {out}"
    )
    server = spawn(server_argv, out / "server.log")
    clients: list[subprocess.Popen[bytes]] = []
    try:
        port = _wait_for_port(port_file, server, out / "server.log")
        if not port:
            return server.returncode or 1
        print(f"server listening on 127.0.0.1:{port}", flush=True)
        for i in range(run.num_clients):  # each takes the server's batch plan for its id
            argv = client_argv(
                port, i, "--data-dir", args.data_dir, *flags.to_argv(wire), *flags.to_argv(attack),
                *plugins.argv(),  # a client builds the model and data the server names
            )  # fmt: skip
            clients.append(spawn(argv, out / f"client-{i}.log"))
        progress = FollowMetrics(out / "metrics.jsonl", Progress(run.rounds))
        waiting = ClientWait(f"127.0.0.1:{port}", run.num_clients)
        while server.poll() is None:
            progress.poll()
            if not progress.records:  # nothing to show yet: say what the wait is for
                waiting.poll()
            time.sleep(0.5)
        progress.poll()
        for client in clients:
            client.wait(timeout=CLIENT_EXIT_WAIT_S)
    finally:
        for proc in [server, *clients]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return _report(out, server.returncode, [c.returncode for c in clients])


def _report(out: Path, server_code: int, client_codes: list[int]) -> int:
    from server.summary import against_float32

    summary_path = out / "summary.json"
    if not summary_path.exists():
        print(
            f"server exited with {server_code} and wrote no summary: "
            f"{last_line(out / 'server.log')} (see {out}/server.log)"
        )
        return server_code if server_code > 0 else 1  # killed by a signal (< 0): 1
    s = json.loads(summary_path.read_text())
    accuracy = s["final_accuracy"]
    steps = "updates" if s.get("asynchrony") else "rounds"  # what --rounds counted
    print(
        f"done: {s['rounds']} {steps}  final accuracy "
        f"{accuracy if accuracy is None else f'{accuracy:.4f}'}  "
        f"{s['total_bytes']:,} B on the wire ({against_float32(s['compression'])})  "
        f"replicas identical: {s['replicas_identical']}"
    )
    failed = [i for i, code in enumerate(client_codes) if code != 0]
    if failed:
        print(f"clients {failed} exited with errors; see {out}/client-<i>.log")
    for line in report_lines(out):
        print(line)
    return 0 if server_code == 0 and not failed and s["replicas_identical"] else 1
