"""Flower's side of `benchmarks.flower_compare`: the same FedAvg run in Flower's simulation.

Run by the Flower venv's Python (`make bench-flower` builds it), never by signfed's, as
a module with the repository on PYTHONPATH (Ray's workers import this module by name):
`benchmarks/.flower-venv/bin/python -m benchmarks.flower_app --out result.json
[--clients 1000] [--per-round 10] [--rounds 30] ...`.

The work is signfed's, step for step: signfed's `Net` from `common.models.build_model`
(seed 0), the IID shards of `common.partitions`, each client's local epoch cut into the
very minibatches `common.sampling.local_batches` gives signfed's trainer, plain SGD, the
server's FedAvg mean weighted by examples, and the clients signfed draws in each round
(`common.sampling.participants`): the strategy samples 10 of the 1,000 virtual nodes as
usual and tells each which client's shard to train. So both sides train the same
clients on the same batches and should end at nearly the same accuracy (float sums in
another order aside). One torch thread per client, 1 CPU per Ray actor.

Round seconds are taken in `evaluate_fn`, which Flower's strategy calls before round 1
and after every round: a round runs from the return of one call to the entry of the
next (configure, send, the clients' training, receive, aggregate), evaluation excluded,
as signfed's `round_ms`. MNIST is read as uint8 once per process (a Ray actor keeps
47 MB, not a float copy of the whole set) and a shard is standardised when it trains,
with the arithmetic of `common.data` (the same float32 values).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # no usage reports from a benchmark
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterable  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from flwr.app import (  # noqa: E402
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

from common.data import _IDX_STEMS, _IMAGE_STATS  # noqa: E402
from common.evaluate import evaluate  # noqa: E402
from common.idx import read_idx  # noqa: E402
from common.models import as_model_input, build_model  # noqa: E402
from common.partitions import partition_indices  # noqa: E402
from common.sampling import local_batches, participants  # noqa: E402

INPUT_SHAPE, NUM_CLASSES = (1, 28, 28), 10


# ---- data and model, once per process (the driver, each Ray actor) ---------------------


@functools.lru_cache(maxsize=2)
def mnist_split(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels of MNIST's train or test split."""
    folder = Path(data_dir) / "mnist"
    images = read_idx(folder / _IDX_STEMS[f"{split}_x"])
    labels = read_idx(folder / _IDX_STEMS[f"{split}_y"]).astype(np.int64)
    return images, labels


def standardise(images: np.ndarray) -> torch.Tensor:
    """(B, 1, 28, 28) float32, element for element what common.data makes of MNIST."""
    mean, std = _IMAGE_STATS["mnist"]
    x = (images.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(x[:, None, :, :])


@functools.lru_cache(maxsize=1)
def shared_model(seed: int) -> torch.nn.Module:
    """One Net per process; every train call loads the round's weights into it."""
    torch.set_num_threads(1)  # signfed simulate's clients: one torch thread
    return build_model("net", INPUT_SHAPE, NUM_CLASSES, seed)


# ---- the ClientApp: one local epoch of plain SGD on the shard it is told -----------------

client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    config = msg.content["config"]
    client_id, round_index = int(config["client-id"]), int(config["round-index"])
    seed, num_clients = int(config["seed"]), int(config["num-clients"])
    images, labels = mnist_split(str(config["data-dir"]), "train")
    shard = partition_indices(labels, num_clients, client_id, "iid", seed)  # (60,) int64
    x, y = standardise(images[shard]), torch.from_numpy(labels[shard])
    model = shared_model(seed)
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(config["lr"]))
    batches = local_batches(
        len(shard), int(config["batch-size"]), round_index, seed, client_id, epochs=1
    )
    for positions in batches:
        batch = torch.from_numpy(positions)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(as_model_input(x[batch])), y[batch]).backward()
        optimizer.step()
    content = RecordDict(
        {
            "arrays": ArrayRecord.from_torch_state_dict(model.state_dict()),
            "metrics": MetricRecord({"num-examples": len(shard)}),
        }
    )
    return Message(content=content, reply_to=msg)


# ---- the ServerApp: FedAvg, signfed's draw, timed rounds, evaluation every N rounds ----


class SignfedDrawFedAvg(FedAvg):
    """FedAvg whose sampled nodes train the clients signfed draws for the round."""

    def __init__(self, *, num_clients: int, per_round: int, seed: int) -> None:
        super().__init__(
            fraction_train=per_round / num_clients,
            fraction_evaluate=0.0,  # no federated evaluation: the server evaluates
            min_train_nodes=per_round,
            min_available_nodes=num_clients,
        )
        self.num_clients, self.per_round, self.seed = num_clients, per_round, seed
        self.replies: list[int] = []  # good replies per round: a failed client is no result

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        self.replies.append(sum(not reply.has_error() for reply in replies))
        return super().aggregate_train(server_round, replies)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        sampled = list(super().configure_train(server_round, arrays, config, grid))
        drawn = participants(self.seed, server_round - 1, self.num_clients, self.per_round)
        if len(sampled) != len(drawn):
            raise RuntimeError(f"Flower sampled {len(sampled)} nodes, signfed draws {len(drawn)}")
        messages = []
        for message, client_id in zip(sampled, drawn, strict=True):
            own = ConfigRecord({**config, "client-id": client_id, "round-index": server_round - 1})
            content = RecordDict({"arrays": arrays, "config": own})
            node = message.metadata.dst_node_id
            messages.append(
                Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN)
            )
        return messages


class RoundClock:
    """Flower's evaluate_fn: times the rounds between its calls, evaluates every N."""

    def __init__(self, *, data_dir: str, seed: int, eval_every: int, rounds: int) -> None:
        self.data_dir, self.seed, self.eval_every, self.rounds = data_dir, seed, eval_every, rounds
        self.round_seconds: list[float] = []
        self.accuracy: dict[int, float] = {}
        self._last = 0.0

    def __call__(self, server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        now = time.perf_counter()
        if server_round > 0:
            self.round_seconds.append(now - self._last)
        result = None
        due = server_round == self.rounds or server_round % self.eval_every == 0
        if server_round > 0 and due:
            images, labels = mnist_split(self.data_dir, "test")
            model = shared_model(self.seed)
            model.load_state_dict(arrays.to_torch_state_dict())
            with torch.no_grad():
                accuracy, loss = evaluate(model, standardise(images), torch.from_numpy(labels))
            self.accuracy[server_round] = accuracy
            result = MetricRecord({"accuracy": accuracy, "loss": loss})
        self._last = time.perf_counter()
        return result


def make_server_app(
    args: argparse.Namespace, strategy: SignfedDrawFedAvg, clock: RoundClock
) -> ServerApp:
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        train_config = ConfigRecord(
            {
                "seed": args.seed,
                "num-clients": args.clients,
                "batch-size": args.batch_size,
                "lr": args.lr,
                "data-dir": str(Path(args.data_dir).resolve()),
            }
        )
        initial = build_model("net", INPUT_SHAPE, NUM_CLASSES, args.seed)
        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord.from_torch_state_dict(initial.state_dict()),
            num_rounds=args.rounds,
            train_config=train_config,
            evaluate_fn=clock,
        )

    return server_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where the result JSON goes")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--eval-every", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ray-temp-dir", default="", help="Ray's session files (short path)")
    args = parser.parse_args()

    clock = RoundClock(
        data_dir=str(Path(args.data_dir).resolve()),
        seed=args.seed,
        eval_every=args.eval_every,
        rounds=args.rounds,
    )
    init_args: dict[str, object] = {"num_cpus": args.ray_cpus, "include_dashboard": False}
    if args.ray_temp_dir:
        init_args["_temp_dir"] = args.ray_temp_dir
    strategy = SignfedDrawFedAvg(num_clients=args.clients, per_round=args.per_round, seed=args.seed)
    started = time.perf_counter()
    run_simulation(
        server_app=make_server_app(args, strategy, clock),
        # From the module by its name, not __main__: Ray pickles the app's functions by
        # reference, and its workers import `benchmarks.flower_app`, not our __main__.
        client_app=importlib.import_module("benchmarks.flower_app").client_app,
        num_supernodes=args.clients,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": init_args,
        },
    )
    if len(clock.round_seconds) != args.rounds or min(strategy.replies) < args.per_round:
        raise SystemExit(
            f"flower_app: {len(clock.round_seconds)} of {args.rounds} rounds ran; good "
            f"replies per round {strategy.replies} (want {args.per_round}): see the log above"
        )
    result = {
        "round_seconds": clock.round_seconds,
        "accuracy": {str(k): v for k, v in clock.accuracy.items()},
        "simulation_seconds": time.perf_counter() - started,
        "ray_cpus": args.ray_cpus,
        "versions": {name: version(name) for name in ("flwr", "ray", "torch", "numpy")},
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
