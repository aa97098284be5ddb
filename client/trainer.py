"""The client's local work: a minibatch gradient on its own data.

What the client makes of it (signs, the gradient itself) is its algorithm's
(common/algorithms). Everything is a function of (run seed, client id, round): which
examples form the minibatch, and any coin the algorithm draws. A restarted client, and
the in-process simulation, therefore compute exactly the same updates.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from common.config import RunConfig
from common.data import Dataset
from common.models import as_model_input, build_model
from common.params import get_flat_grad, set_flat
from common.partitions import partition_indices
from common.sampling import minibatch_indices


class LocalTrainer:
    def __init__(self, run: RunConfig, client_id: int, batch_size: int, dataset: Dataset) -> None:
        self.run = run
        self.client_id = client_id
        self.batch_size = batch_size
        self.dataset = dataset
        self.model = build_model(run.model, dataset.input_shape, dataset.num_classes, run.seed)
        # This client's share of the training data (DESIGN: the data never leaves it).
        self.shard = partition_indices(
            dataset.train_y.numpy(),
            run.num_clients,
            client_id,
            run.partition,
            run.seed,
            classes_per_client=run.classes_per_client,
            dirichlet_alpha=run.dirichlet_alpha,
        )

    def gradient(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 minibatch gradient of the cross-entropy at parameters `flat`."""
        positions = minibatch_indices(
            len(self.shard), self.batch_size, round_index, self.run.seed, self.client_id
        )
        batch = torch.from_numpy(self.shard[positions])
        set_flat(self.model, flat)
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        inputs = as_model_input(self.dataset.train_x[batch])
        loss = F.cross_entropy(self.model(inputs), self.dataset.train_y[batch])
        loss.backward()  # type: ignore[no-untyped-call]
        return get_flat_grad(self.model)
