"""One server, many clients: `python -m benchmarks.load [--clients 500] [--procs 4]
[--rounds 40] [--algorithm llr]`.

The server is the real one (`signfed server`, in its own process). The clients are
light: `--procs` processes, each an asyncio loop driving its share of grpc.aio clients
over a few channels. Each client joins, attaches its Train stream and, every round,
votes a fixed random sign vector as soon as the previous decision arrives; no model, no
data. So the server does exactly the work a real cohort of that size costs it (one
stream per client, reassembly, the vote, the update, the broadcast) while the clients
cost almost nothing. Model: the synthetic dataset's MLP (N = 4,810; 602-byte votes).

Reported: rounds per second and round times after the first round (which includes
admitting everybody), every round's voter count, and the server's resident memory
before the clients came (baseline), at the end, and at its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from common.algorithms import available, get_algorithm
from common.codec import coin_rng, pack_signs
from common.codecs import get_codec
from common.config import PROTOCOL_VERSION, WireConfig
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.wire import grpc_options, update_messages

CLIENTS_PER_CHANNEL = 25  # streams share a channel's HTTP/2 connection, as a NAT'd site would


# ---- the light clients (worker processes) ---------------------------------------------


async def _light_client(stub: pb_grpc.ParameterServerStub, name: str, seed: int) -> int:
    """Join, attach, vote every round until Stop; returns the rounds voted."""
    reply = await stub.Join(
        pb.JoinRequest(
            protocol_version=PROTOCOL_VERSION, client_name=name, batch_size=1, requested_id=-1
        ),
        wait_for_ready=True,
        timeout=300,
    )
    n, chunk = int(reply.settings.num_params), int(reply.settings.chunk_bytes)
    rounds = int(reply.settings.rounds)
    codec = get_codec("sign1")  # what llr and mv (--algorithm's choices) send
    payload = codec.encode(
        pack_signs(np.random.default_rng(seed).standard_normal(n), coin_rng(seed))
    )
    outbox: asyncio.Queue[pb.ClientMessage | None] = asyncio.Queue()
    outbox.put_nowait(
        pb.ClientMessage(attach=pb.Attach(client_id=reply.client_id, session=reply.session))
    )

    async def requests():  # type: ignore[no-untyped-def]
        while (message := await outbox.get()) is not None:
            yield message

    def vote(round_index: int) -> None:
        for message in update_messages(round_index, payload, codec, n, chunk):
            outbox.put_nowait(message)

    voted = 0
    async for message in stub.Train(requests()):
        kind = message.WhichOneof("kind")
        if kind == "start":
            vote(message.start.round)
            voted += 1
        elif kind == "decision" and message.decision.last:
            if message.decision.round + 1 < rounds:
                vote(message.decision.round + 1)
                voted += 1
        elif kind == "stop":
            outbox.put_nowait(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=b"")))
            outbox.put_nowait(None)
    return voted


async def _worker(address: str, first: int, count: int) -> None:
    options = [*grpc_options(WireConfig()), ("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(address, options=options)
        for _ in range(-(-count // CLIENTS_PER_CHANNEL))
    ]
    stubs = [pb_grpc.ParameterServerStub(c) for c in channels]
    tasks = [
        _light_client(stubs[i // CLIENTS_PER_CHANNEL], f"light-{first + i}", first + i)
        for i in range(count)
    ]
    voted = await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    print(f"worker {first}..{first + count - 1}: {min(voted)}-{max(voted)} rounds voted")


# ---- the driver --------------------------------------------------------------------------


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):  # resident now, and its high-water mark
            fields[key] = int(value.split()[0])
    return fields


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {what}: server exit {proc.poll()}; see its log")
        time.sleep(0.1)


def run(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="signfed-load-"))
    port_file = out / "port"
    cli = [sys.executable, "-m", "signfed.cli"]
    server = subprocess.Popen(
        [*cli, "--log-level", "WARNING", "server", "--dataset", "synthetic",
         "--clients", str(args.clients),
         "--rounds", str(args.rounds), "--eval-every", str(args.rounds),
         "--algorithm", args.algorithm, "--warmup-rounds", "5", "--checkpoint-every", "0",
         "--port", "0", "--port-file", str(port_file), "--out", str(out / "run"),
         "--threads", "1"],
        stdout=open(out / "server.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _wait(port_file.exists, 120, "port", server)
        address = f"127.0.0.1:{int(port_file.read_text())}"
        time.sleep(1.0)
        baseline = _memory_kib(server.pid)["VmRSS"]
        share = -(-args.clients // args.procs)
        for first in range(0, args.clients, share):
            count = min(share, args.clients - first)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.load", "--worker", address,
                 "--first", str(first), "--count", str(count)],
            ))  # fmt: skip
        started = time.monotonic()
        final = {"VmRSS": baseline, "VmHWM": baseline}
        while server.poll() is None:
            sample = _memory_kib(server.pid)  # an exiting process has no VmRSS: keep the last
            if "VmRSS" in sample and "VmHWM" in sample:
                final = sample
            time.sleep(0.2)
        wall = time.monotonic() - started
        codes = [w.wait(timeout=120) for w in workers]
    finally:
        for proc in (server, *workers):
            if proc.poll() is None:
                proc.kill()
    records = [json.loads(line) for line in (out / "run" / "metrics.jsonl").open()]
    steady = records[1:]
    span = steady[-1]["seconds"] - records[0]["seconds"]
    round_ms = [r["round_ms"] for r in steady]
    print(f"signfed load benchmark: {args.clients} clients in {args.procs} processes "
          f"({CLIENTS_PER_CHANNEL} streams per connection), {args.algorithm}, "
          f"synthetic MLP (N = 4,810), {args.rounds} rounds")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, grpcio {grpc.__version__}")  # fmt: skip
    print(f"server exit {server.returncode}, worker exits {sorted(set(codes))}, "
          f"wall {wall:.1f} s (joining included)")  # fmt: skip
    print(f"voters per round: min {min(r['clients'] for r in records)}, "
          f"max {max(r['clients'] for r in records)}")  # fmt: skip
    print(f"first round (admission of all {args.clients}): {records[0]['round_ms']:.0f} ms")
    print(f"rounds 1..{len(records) - 1}: {len(steady) / span:.2f} rounds/s, round time "
          f"median {statistics.median(round_ms):.0f} ms, max {max(round_ms):.0f} ms, "
          f"vote median {statistics.median(r['aggregate_ms'] for r in steady):.1f} ms")  # fmt: skip
    print(f"server memory: baseline {baseline / 1024:.0f} MiB, final "
          f"{final['VmRSS'] / 1024:.0f} MiB, peak {final['VmHWM'] / 1024:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--rounds", type=int, default=40)
    # Its clients send fixed sign vectors: the registry's algorithms that take sign1.
    signs = [a for a in available() if get_algorithm(a).update_encodings[0] == "sign1"]
    parser.add_argument("--algorithm", default="llr", choices=signs)
    parser.add_argument("--worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(_worker(args.worker, args.first, args.count))
    else:
        run(args)


if __name__ == "__main__":
    main()
