"""`signfed simulate --algorithm split`: a split run in one process, without gRPC.

The networked run's pieces, called directly: each client's ClientSide
(client/split_client.py) and the server's SplitRounds (server/split_rounds.py), the
very object the coordinator runs, exchange the same Tensors the network carries, in
the order the coordinator takes them (clients in id order; SplitFed's clients each have
their own server part, so their interleaving on the network changes nothing). So the
simulation ends at the same model, bit for bit, as `signfed local --algorithm split`,
and counts as bytes the sizes of the messages the network would send (all but each
stream's Attach, Goodbye and Stop).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from client.split_client import ClientSide
from common.codecs import Codec, get_codec
from common.data import Dataset, load_dataset
from common.params import digest
from common.proto import signfed_pb2 as pb
from common.split_config import activation_encoding, gradient_encoding
from common.split_model import USHAPED
from common.split_tensor import tensor_size
from common.wire import messages_size, model_chunks, update_messages
from server.master import MasterModel
from server.metrics import MetricsWriter
from server.run_dir import RUN_FILES
from server.split_records import split_record, split_summary
from server.split_rounds import Rotation, SplitRounds
from signfed.progress import Progress
from signfed.simulation_config import SimulationConfig

log = logging.getLogger(__name__)


def part_bytes(t: int, part: Any, chunk_bytes: int, float32: Codec) -> tuple[int, int]:
    """(down, up): a client part sent as ServerMessage.model and returned as an Update."""
    flat = part.tobytes()
    down = messages_size(
        pb.ServerMessage(model=c)
        for c in model_chunks(t, flat, part.size, digest(part), chunk_bytes)
    )
    return down, messages_size(update_messages(t, flat, float32, part.size, chunk_bytes))


class SplitSimulation:
    def __init__(self, config: SimulationConfig, dataset: Dataset | None = None) -> None:
        run = config.run
        self.config, self.run = config, run
        self.out = Path(config.out_dir)
        self.dataset = dataset or load_dataset(run.dataset, config.data_dir, seed=run.seed)
        self.master = MasterModel(run, self.dataset)
        self.encodings = (activation_encoding(run), gradient_encoding(run))
        self.codecs = (get_codec(self.encodings[0]), get_codec(self.encodings[1]))
        layer, variant = config.split.layer_for(run.model), config.split.variant
        self.clients = [
            ClientSide(
                run,
                c,
                run.batch_size_for(c),
                self.dataset,
                layer=layer,
                variant=variant,
                codecs=self.codecs,
            )  # fmt: skip
            for c in range(run.num_clients)
        ]
        self.rounds = SplitRounds(
            run, self.dataset, layer=layer, variant=variant, codecs=self.codecs,
            examples_of=lambda c: self.clients[c].num_examples,
        )  # fmt: skip
        self.rounds.load(self.master.flat, 0)
        self._float32 = get_codec("float32")
        self.client_seconds = 0.0  # compute on the clients' side, for the report
        self.server_seconds = 0.0
        self._bytes, self._loss, self._steps, self._server_bytes = [0, 0], 0.0, 0, 0

    def _start(self, client: ClientSide, t: int) -> None:
        """A turn opens: the client's part down, the client begins."""
        part = self.rounds.start_turn(client.client_id, client.batch_size)
        down, up = part_bytes(t, part, self.config.wire.chunk_bytes, self._float32)
        self._bytes[1] += down
        self._bytes[0] += up  # the part comes back up at the turn's end, the same size
        client.begin(part, t)

    def _exchange(self, client: ClientSide) -> None:
        """One minibatch: the tensors both ways, as the network carries them."""
        chunk = self.config.wire.chunk_bytes
        started = time.perf_counter()
        sent = client.forward()
        mid = time.perf_counter()
        answer = self.rounds.take(client.client_id, sent)
        done = time.perf_counter()
        self._bytes[0] += tensor_size(sent, self.codecs[0], chunk)
        self._bytes[1] += tensor_size(answer, self.codecs[1], chunk)
        if client.variant == USHAPED:
            sent = client.top(answer)
            answer = self.rounds.take(client.client_id, sent)
            self._bytes[0] += tensor_size(sent, self.codecs[0], chunk)
            self._bytes[1] += tensor_size(answer, self.codecs[1], chunk)
        last = time.perf_counter()
        self._loss += client.backward(answer)
        self._steps += 1
        self.server_seconds += done - mid
        self.client_seconds += (mid - started) + (time.perf_counter() - last)

    def _train(self, ids: tuple[int, ...], t: int) -> None:
        """Round t's turns in the coordinator's order (server/split_rounds.py)."""
        clients = [self.clients[c] for c in ids]
        if not self.rounds.parallel:  # SplitNN: one turn after the other
            for client in clients:
                self._start(client, t)
                while not client.done:
                    self._exchange(client)
                self.rounds.end_turn(client.client_id, client.part())
            return
        for client in clients:  # every part down as the round opens
            self._start(client, t)
        self._server_bytes = self.rounds.server_memory()
        rotation = Rotation(ids if self.rounds.rotates else ())
        for client in clients if not self.rounds.rotates else ():
            while not client.done:  # SFLV1: a server part each: any order gives these bits
                self._exchange(client)
            self.rounds.end_turn(client.client_id, client.part())
        while (c := rotation.current) is not None:  # SFLV2: one step each, in turn
            if self.clients[c].done:
                self.rounds.end_turn(c, self.clients[c].part())
                rotation.remove(c)
            else:
                self._exchange(self.clients[c])
                rotation.advance()

    def step(self, t: int) -> dict[str, Any]:
        started = time.perf_counter()
        ids = self.run.drawn(t)
        self._bytes, self._loss, self._steps = [0, 0], 0.0, 0
        self._server_bytes = self.rounds.server_memory()
        self._train(ids, t)
        up, down, steps, loss_sum = self._bytes[0], self._bytes[1], self._steps, self._loss
        server_bytes = self._server_bytes
        flat = self.rounds.close()
        self.master.commit(flat, t + 1)
        record = split_record(
            t, clients=len(ids), bytes_up=up, bytes_down=down,
            seconds=time.perf_counter() - self._started,
            round_ms=(time.perf_counter() - started) * 1e3,
            train_loss=None if self.rounds.cut.variant == USHAPED else loss_sum / max(1, steps),
            steps=steps, server_bytes=server_bytes,
        )  # fmt: skip
        if (t + 1) % self.run.eval_every == 0 or t + 1 == self.run.rounds:
            accuracy, loss = self.master.evaluate(flat)
            record["accuracy"], record["loss"] = round(accuracy, 6), round(loss, 6)
        record["client_seconds"] = round(self.client_seconds, 3)
        record["server_seconds"] = round(self.server_seconds, 3)
        return record

    def run_all(self, progress: Progress | None = None) -> dict[str, Any]:
        """Every round; returns what summary.json holds (no checkpoints: a split run is
        short, and a rerun repeats it exactly)."""
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in RUN_FILES:
            (self.out / stale).unlink(missing_ok=True)
        metrics = MetricsWriter(self.out)
        self._started = time.perf_counter()
        try:
            for t in range(self.run.rounds):
                record = self.step(t)
                metrics.round(record, num_params=self.master.num_params)
                if progress is not None:
                    progress.add(record)
            summary = metrics.summary(
                split_summary(
                    runner="simulate",
                    run=self.run,
                    cut=self.rounds.cut,
                    encodings=self.encodings,
                    rounds=self.master.round,
                    model_digest=self.master.digest,
                    wall_seconds=time.perf_counter() - self._started,
                )  # fmt: skip
            )
        finally:
            metrics.close()
        return summary
