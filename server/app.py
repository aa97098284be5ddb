"""Assemble and run the parameter server: `create_server(config) -> (server, port)`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import torch

from common.config import ServerConfig
from common.data import load_dataset
from common.proto import signfed_pb2_grpc as pb_grpc
from common.wire import grpc_options
from server.aggregators import create_aggregator
from server.coordinator import RoundCoordinator
from server.master import MasterModel
from server.membership import Membership
from server.metrics import MetricsWriter
from server.servicer import ParameterServer

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    coordinator: RoundCoordinator
    executors: tuple[ThreadPoolExecutor, ...]

    async def stop(self, grace: float | None = 1.0) -> None:
        await self.server.stop(grace)
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)
        self.coordinator.metrics.close()


async def create_server(config: ServerConfig) -> RunningServer:
    """Build the whole server and bind it; port 0 picks a free port (read it back)."""
    torch.set_num_threads(config.threads)
    run = config.run
    dataset = load_dataset(run.dataset, config.data_dir, seed=run.seed)
    master = MasterModel(run, dataset)
    aggregator = create_aggregator(run.aggregator, master.num_params)
    vote_executor = ThreadPoolExecutor(1, thread_name_prefix="vote")
    eval_executor = ThreadPoolExecutor(1, thread_name_prefix="eval")
    coordinator = RoundCoordinator(
        run=run,
        wire=config.wire,
        master=master,
        aggregator=aggregator,
        metrics=MetricsWriter(config.out_dir),
        vote_executor=vote_executor,
        eval_executor=eval_executor,
    )
    membership = Membership(
        capacity=run.num_clients, tokens=config.tokens, batch_plan=run.batch_size_for
    )
    server = grpc.aio.server(options=grpc_options(config.wire))
    pb_grpc.add_ParameterServerServicer_to_server(ParameterServer(coordinator, membership), server)
    address = f"{config.host}:{config.port}"
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    await server.start()
    log.info(
        "serving %s on %s:%d (plain text): %s, %d clients, %d rounds, %d parameters",
        run.aggregator.algorithm,
        config.host,
        port,
        run.dataset,
        run.num_clients,
        run.rounds,
        master.num_params,
    )
    return RunningServer(server, port, coordinator, (vote_executor, eval_executor))


def write_port_file(path: str, port: int) -> None:
    """Atomically publish the bound port for launchers (`--port-file`)."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)


async def serve(config: ServerConfig, port_file: str = "") -> dict[str, Any]:
    """Run one training job to the end; returns the summary written to summary.json."""
    running = await create_server(config)
    coordinator = running.coordinator
    if port_file:
        write_port_file(port_file, running.port)
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    done = asyncio.ensure_future(coordinator.done.wait())
    stop = asyncio.ensure_future(interrupted.wait())
    await asyncio.wait([done, stop], return_when=asyncio.FIRST_COMPLETED)
    for task in (done, stop):
        task.cancel()
    if interrupted.is_set() and not coordinator.done.is_set():
        log.warning("interrupted at round %d: stopping", coordinator.round)
        await coordinator.finish(f"interrupted at round {coordinator.round}")
    summary = coordinator.metrics.summary(
        {
            "rounds": coordinator.round,
            "algorithm": config.run.aggregator.algorithm,
            "num_params": coordinator.master.num_params,
            "clients_reported": len(coordinator.final_digests),
            "replicas_identical": coordinator.replicas_identical(),
            "model_digest": coordinator.master.digest.hex(),
            # Each client's final replica, by client id, as it reported in its Goodbye.
            "replica_digests": {
                str(i): d.hex() for i, d in sorted(coordinator.final_digests.items())
            },
            "error": coordinator.failed,
            "config": asdict(config.run),
        }
    )
    log.info(
        "done: %d rounds, accuracy %s, %d bytes on the wire (%.1fx less than float32), "
        "replicas identical: %s",
        summary["rounds"],
        summary["final_accuracy"],
        summary["total_bytes"],
        summary["compression"] or 0.0,
        summary["replicas_identical"],
    )
    await running.stop()
    return summary
