"""Split learning trains the model centralised training would, bit for bit.

One client, float32 at the cut: the head's forward, the server part's loss and
backward, the gradient back through the head and both SGD steps are the ops of one
full-model step, in the same memory layout (SplitTensor.channels_last), so the model
after a round equals LocalTrainer.local_model's on the same minibatches, for every cut
of Net and ResNet-56 and for U-shaped. SplitFed (a server part per client, all averaged)
is FedAvg with its local training split, so it ends at FedAvg's model; float16 at the
cut rounds the tensors and does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from client.trainer import LocalTrainer
from common.config import AggregatorConfig, RunConfig
from common.data import Dataset, load_dataset
from common.params import digest
from common.split_config import SplitConfig
from signfed.simulation import Simulation
from signfed.simulation_config import SimulationConfig
from signfed.split_simulation import SplitSimulation


def digits_images() -> Dataset:
    """The digits as 1x16x16 images (each pixel doubled): small enough for Net."""
    d = load_dataset("digits", "data")

    def up(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 1, 8, 8).repeat_interleave(2, 2).repeat_interleave(2, 3)

    return Dataset(up(d.train_x), d.train_y, up(d.test_x), d.test_y, 10, (1, 16, 16), "digits")


def random_images() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 8, 8, generator=g), torch.randint(0, 10, (48,), generator=g)
    return Dataset(x, y, x[:16], y[:16], 10, (3, 8, 8), "random")


def _split_run(
    run: RunConfig, dataset: Dataset, out: Path, variant: str, layer: str
) -> SplitSimulation:
    config = SimulationConfig(
        run=run, out_dir=str(out), split=SplitConfig(variant=variant, cut_layer=layer)
    )
    return SplitSimulation(config, dataset)


@pytest.mark.parametrize(
    ("model", "variant", "layer"),
    [
        ("net", "vanilla", "conv1"),  # (B, 32, 6, 6) activations: a 4-D layout to keep
        ("net", "vanilla", "conv2"),
        ("net", "vanilla", "fc1"),
        ("net", "ushaped", "conv1"),
        ("net", "ushaped", "conv2"),
        ("resnet56", "vanilla", "stem"),
        ("resnet56", "vanilla", "layer1"),
        ("resnet56", "ushaped", "layer2"),
    ],
)
def test_one_client_split_equals_centralised_training(
    tmp_path: Path, model: str, variant: str, layer: str
) -> None:
    dataset = digits_images() if model == "net" else random_images()
    run = RunConfig(
        dataset="digits" if model == "net" else "cifar10", model=model, num_clients=1,
        rounds=1, learning_rate=0.05, client_momentum=0.9, weight_decay=1e-4,
        partition="iid", batch_sizes=(16,), local_steps=6 if model == "net" else 2,
        aggregator=AggregatorConfig(algorithm="split"),
    )  # fmt: skip
    sim = _split_run(run, dataset, tmp_path, variant, layer)
    start = sim.master.flat.copy()
    summary = sim.run_all()
    centralised = LocalTrainer(run, 0, 16, dataset).local_model(start, 0)
    assert not np.array_equal(centralised, start)  # it trained
    assert summary["model_digest"] == digest(centralised).hex()


def _digits_run(algorithm: str, encoding: str = "") -> RunConfig:
    return RunConfig(
        dataset="digits", num_clients=3, rounds=3, learning_rate=0.1, client_momentum=0.5,
        partition="dirichlet", batch_sizes=(16, 16, 32), update_encoding=encoding,
        decision_encoding=encoding, eval_every=1, aggregator=AggregatorConfig(algorithm=algorithm),
    )  # fmt: skip


def test_splitfed_is_fedavg_split_at_the_cut(tmp_path: Path) -> None:
    dataset = load_dataset("digits", "data")
    split = _split_run(_digits_run("split"), dataset, tmp_path / "a", "splitfed", "fc1")
    fedavg = Simulation(SimulationConfig(run=_digits_run("fedavg"), out_dir=str(tmp_path / "b")))
    got, want = split.run_all(), fedavg.run_all()
    assert got["model_digest"] == want["model_digest"]
    assert got["final_accuracy"] == want["final_accuracy"]
    # float16 at the cut: the tensors round, the model drifts, and only a little
    half = _split_run(_digits_run("split", "float16"), dataset, tmp_path / "c", "splitfed", "fc1")
    rounded = half.run_all()
    assert rounded["model_digest"] != want["model_digest"]
    assert np.abs(half.master.flat - fedavg.master.flat).max() < 1e-2
