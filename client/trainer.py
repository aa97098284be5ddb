"""The client's local work on its own data: a minibatch gradient, or local SGD steps.

What the client makes of it (signs, the gradient itself, a model delta) is its
algorithm's (common/algorithms). Everything is a function of (run seed, client id,
round): which examples form each minibatch, and any coin the algorithm draws. A
restarted client, and the in-process simulation, therefore compute exactly the same
updates.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from common.attacks import flipped_labels
from common.config import RunConfig
from common.data import Dataset
from common.local_sgd import local_sgd
from common.models import as_model_input, build_model
from common.params import get_flat, get_flat_grad, set_flat
from common.partitions import run_shard
from common.sampling import local_batches, minibatch_indices


def local_steps(run: RunConfig, num_examples: int, batch_size: int) -> int:
    """Local SGD steps of one local_model call by a client holding `num_examples`."""
    if run.local_steps:
        return run.local_steps
    return run.local_epochs * -(-num_examples // batch_size)


class LocalTrainer:
    def __init__(
        self,
        run: RunConfig,
        client_id: int,
        batch_size: int,
        dataset: Dataset,
        *,
        flip_labels: bool = False,  # a label-flipping attacker trains on y -> C - 1 - y
        shard: np.ndarray | None = None,  # its indices when the caller has them (a table)
        model: torch.nn.Module | None = None,  # a model to reuse (see below)
    ) -> None:
        self.run = run
        self.client_id = client_id
        self.batch_size = batch_size
        self.dataset = dataset
        self.labels = dataset.train_y
        if flip_labels:
            self.labels = torch.from_numpy(
                flipped_labels(dataset.train_y.numpy(), dataset.num_classes)
            )
        # Every use starts with set_flat and training-mode forward passes never read the
        # running statistics a BatchNorm keeps, so many virtual clients can share one
        # model (signfed/client_pool.py) and compute exactly what their own would.
        if model is None:
            model = build_model(run.model, dataset.input_shape, dataset.num_classes, run.seed)
        self.model = model
        # This client's share of the training data (DESIGN: the data never leaves it).
        self.shard = run_shard(run, dataset.train_y.numpy(), client_id) if shard is None else shard

    @property
    def num_examples(self) -> int:
        """The examples this client holds: FedAvg weighs its delta by them."""
        return len(self.shard)

    def _loss(self, positions: np.ndarray) -> torch.Tensor:
        batch = torch.from_numpy(self.shard[positions])
        inputs = as_model_input(self.dataset.train_x[batch])
        return F.cross_entropy(self.model(inputs), self.labels[batch])

    def gradient(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 minibatch gradient of the cross-entropy at parameters `flat`."""
        positions = minibatch_indices(
            len(self.shard), self.batch_size, round_index, self.run.seed, self.client_id
        )
        set_flat(self.model, flat)
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        self._loss(positions).backward()  # type: ignore[no-untyped-call]
        return get_flat_grad(self.model)

    def local_delta(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 x_m - x: local SGD from `flat` for the run's epochs or steps, with
        its momentum and weight decay, at the round's learning rate."""
        return self.local_model(flat, round_index) - np.asarray(flat, dtype=np.float32)

    @property
    def steps_per_update(self) -> int:
        """Local SGD steps of one local_model call (an asynchronous run's clock counts them)."""
        return local_steps(self.run, len(self.shard), self.batch_size)

    def local_model(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 x_m: the model local SGD reaches from `flat` (see local_delta)."""
        run = self.run
        set_flat(self.model, flat)
        self.model.train()
        optimizer = local_sgd(self.model.parameters(), run, round_index)
        for positions in local_batches(
            len(self.shard),
            self.batch_size,
            round_index,
            run.seed,
            self.client_id,
            epochs=run.local_epochs,
            steps=run.local_steps,
        ):
            optimizer.zero_grad(set_to_none=True)
            self._loss(positions).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        return get_flat(self.model)
