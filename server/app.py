"""Assemble and run the parameter server: `create_server(config) -> (server, port)`."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import torch

from common.atomic import write_atomic
from common.config import ConfigError
from common.data import load_dataset
from common.proto import signfed_pb2_grpc as pb_grpc
from common.tls import server_credentials
from common.wire import grpc_options
from server.auth import AuthInterceptor, verifier_for
from server.checkpoints import Checkpointing, load_server_state
from server.config import ServerConfig
from server.coordinators import Coordinator, build_coordinator, summary_of
from server.decoding import DecodeErrors
from server.health import RunHealth
from server.limits import raise_open_file_limit, server_options
from server.master import MasterModel
from server.membership import Membership
from server.metrics import MetricsSink, MetricsWriter
from server.outcome import Outcome
from server.run_dir import start_fresh
from server.servicer import ParameterServer
from server.settings import describe, serving_record
from server.summary import against_float32

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    coordinator: Coordinator
    executors: tuple[ThreadPoolExecutor, ...]

    async def stop(self, grace: float | None = 1.0) -> None:
        await self.server.stop(grace)
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)
        self.coordinator.metrics.close()


async def create_server(config: ServerConfig) -> RunningServer:
    """Build the whole server and bind it; port 0 picks a free port (read it back)."""
    # Credential files first: a wrong path fails before minutes of dataset loading.
    credentials = None
    if config.tls_cert:
        credentials = server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
    verifier = verifier_for(config)
    # Before minutes of loading: a taken port is an error now, not after the dataset.
    check_port_free(config.host, config.port)
    open_file_limit = raise_open_file_limit()
    torch.set_num_threads(config.threads)
    run = config.run
    dataset = load_dataset(run.dataset, config.data_dir, seed=run.seed)
    master = MasterModel(run, dataset)
    membership = Membership(
        capacity=run.num_clients,
        batch_plan=run.batch_size_for,
        # A live stream holds its name; `coordinator` is built below and looked up
        # only when a Join comes.
        is_connected=lambda client_id: coordinator.holds_stream(client_id),
    )
    state = None
    serving = serving_record(config)  # what its checkpoints record of how it serves
    if config.resume:
        # Every field is checked before anything on disk changes (metrics.jsonl too).
        state = load_server_state(config.out_dir, run, master.num_params, config.asynchrony)
        membership.restore(state.members)
        metrics = MetricsWriter.resumed(config.out_dir, state.metrics, state.round)
    else:
        start_fresh(config.out_dir, overwrite=config.overwrite)
        metrics = MetricsWriter(config.out_dir)
    vote_executor = ThreadPoolExecutor(1, thread_name_prefix="vote")
    eval_executor = ThreadPoolExecutor(1, thread_name_prefix="eval")
    checkpointing = Checkpointing(
        config.out_dir, config.checkpoint_every, membership.snapshot, serving, config.asynchrony
    )
    coordinator = build_coordinator(
        config, master=master, dataset=dataset, membership=membership, metrics=metrics,
        checkpointing=checkpointing, work_executor=vote_executor, eval_executor=eval_executor,
    )  # fmt: skip
    if state is not None:
        coordinator.restore(state)
    # Tokens are checked before any servicer code runs (server/auth.py).
    interceptors = [AuthInterceptor(verifier)] if verifier is not None else []
    interceptors.append(DecodeErrors())
    server = grpc.aio.server(
        options=grpc_options(config.wire) + server_options(open_file_limit),
        interceptors=interceptors,
    )
    servicer = ParameterServer(coordinator, membership, verifier)
    pb_grpc.add_ParameterServerServicer_to_server(servicer, server)
    health = RunHealth(server)  # grpc.health.v1 beside Status (server/health.py)
    port = _bind(server, config, credentials)
    await server.start()
    await health.watch(coordinator.done)  # SERVING until the run is done
    log.info(
        "serving %s on %s:%d (%s): %s, %d clients, %d rounds, %d parameters",
        run.aggregator.algorithm,
        config.host,
        port,
        describe(serving["security"]),
        run.dataset,
        run.num_clients,
        run.rounds,
        master.num_params,
    )
    return RunningServer(server, port, coordinator, (vote_executor, eval_executor))


def _bind(
    server: grpc.aio.Server, config: ServerConfig, credentials: grpc.ServerCredentials | None
) -> int:
    """TLS when configured; plain text is for loopback demos, and says so elsewhere."""
    address = f"{config.host}:{config.port}"
    try:
        if credentials is not None:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # gRPC says only "Failed to bind"; the usual cause is this
        raise ConfigError(_in_use(address)) from None
    if credentials is None:
        if not is_loopback(config.host):
            log.warning(
                "serving PLAIN TEXT on %s: anyone on the network can read and alter the "
                "votes, the model and any tokens; give --tls-cert and --tls-key "
                "(README, Security)",
                config.host,
            )
    if port == 0:
        raise ConfigError(_in_use(address))
    return port


def _in_use(address: str) -> str:
    return (
        f"cannot listen on {address}: the address is in use (another signfed server?) "
        "or not local; choose another --port or --host"
    )


def check_port_free(host: str, port: int) -> None:
    """ConfigError when `host:port` cannot be bound exclusively right now (port 0: any)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # SO_REUSEADDR, as gRPC sets it: a restarted server may bind over connections
        # of its predecessor in TIME_WAIT; no SO_REUSEPORT: fails while anyone listens.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError:
            raise ConfigError(_in_use(f"{host}:{port}")) from None


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` ('localhost', 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: assume it is reachable
        return False


def write_port_file(path: str, port: int) -> None:
    """Atomically and durably publish the bound port for launchers (`--port-file`)."""
    write_atomic(path, f"{port}\n".encode())


SUMMARY_ATTEMPTS = 6  # a failed summary.json write is retried for ~30 s


async def _write_summary(metrics: MetricsSink, fields: dict[str, Any]) -> dict[str, Any]:
    """summary.json, retried on OSError (a full disk, no descriptor left); if it still
    fails, the summary goes to the log, so the run's result is never lost."""
    for attempt in range(SUMMARY_ATTEMPTS):
        try:
            return metrics.summary(fields)
        except OSError as exc:
            log.error("writing summary.json failed (%s); attempt %d", exc, attempt + 1)
            await asyncio.sleep(min(8.0, 0.5 * 2**attempt))
    summary = {**fields, "error": fields["error"] or "summary.json could not be written"}
    log.error("summary (not written): %s", json.dumps(summary, sort_keys=True, default=str))
    return {"final_accuracy": None, "total_bytes": 0, "compression": None, **summary}


async def serve(config: ServerConfig, port_file: str = "") -> dict[str, Any]:
    """Run one training job to the end; returns the summary written to summary.json."""
    running = await create_server(config)
    coordinator = running.coordinator
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    # Before the port is published: a launcher may send SIGTERM the moment it reads it,
    # and that must checkpoint and stop cleanly, not kill the process.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    if port_file:
        write_port_file(port_file, running.port)
    done = asyncio.ensure_future(coordinator.done.wait())
    stop = asyncio.ensure_future(interrupted.wait())
    await asyncio.wait([done, stop], return_when=asyncio.FIRST_COMPLETED)
    for task in (done, stop):
        task.cancel()
    if interrupted.is_set() and not coordinator.done.is_set():
        log.warning("interrupted at round %d: checkpointing, then stopping", coordinator.round)
        await coordinator.suspend()
        await coordinator.finish(
            Outcome.INTERRUPTED,
            f"interrupted at round {coordinator.round}; resume with --resume {config.out_dir}",
        )
    elif coordinator.failed is None:
        coordinator.drop_checkpoint()
    summary = await _write_summary(coordinator.metrics, summary_of(coordinator, config))
    log.info(
        "done: %d rounds, accuracy %s, %d bytes on the wire (%s), replicas identical: %s",
        summary["rounds"],
        summary["final_accuracy"],
        summary["total_bytes"],
        against_float32(summary["compression"]),
        summary["replicas_identical"],
    )
    await running.stop()
    return summary
