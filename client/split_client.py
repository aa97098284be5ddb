"""A client's half of split learning: its data, its head (and U-shaped, its top), and
the minibatch exchange with the server's part.

One turn (sequential variants) or round (SplitFed) trains the client's part from the
parameters it was handed, over the same minibatches FedAvg's local training would
draw (common.sampling.local_batches of (seed, client, round)), with the same SGD
settings (--lr at the round, --client-momentum, --weight-decay; momentum starts from
zero each turn, as FedAvg's does each round). Per minibatch:

    vanilla, splitfed   head(x) -> ACTIVATIONS (+ labels)      server: tail, loss, backward
                        CUT_GRADIENT -> backward through the head, step
    ushaped             head(x) -> ACTIVATIONS                 server: its middle
                        SERVER_OUTPUT -> top, loss with the labels, backward
                          -> OUTPUT_GRADIENT                   server: backward, step
                        CUT_GRADIENT -> backward through the head, step (head and top)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from common.codecs import Codec
from common.config import RunConfig
from common.data import Dataset
from common.local_sgd import local_sgd
from common.models import as_model_input
from common.params import get_flat, set_flat
from common.partitions import run_shard
from common.sampling import local_batches
from common.split_model import USHAPED, Parts, build_parts
from common.split_tensor import (
    ACTIVATIONS,
    CUT_GRADIENT,
    OUTPUT_GRADIENT,
    SERVER_OUTPUT,
    Tensor,
    decode,
    encode,
)


class SplitProtocolError(ValueError):
    """The server's tensor does not fit the exchange (kind, step, shape)."""


class ClientSide:
    def __init__(
        self,
        run: RunConfig,
        client_id: int,
        batch_size: int,
        dataset: Dataset,
        *,
        layer: str,
        variant: str,
        codecs: tuple[Codec, Codec],  # (activations up, gradients down)
    ) -> None:
        self.run, self.client_id, self.batch_size, self.dataset = (
            run,
            client_id,
            batch_size,
            dataset,
        )
        self.variant = variant
        self.up, self.down = codecs
        self.parts: Parts = build_parts(
            run.model, dataset.input_shape, dataset.num_classes, run.seed, layer, variant
        )
        self.modules = self.parts.client_modules()
        self.shard = run_shard(run, dataset.train_y.numpy(), client_id)
        self.round = -1
        self.batches: list[np.ndarray] = []
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending: dict[str, torch.Tensor] = {}  # this step's tensors, for backward
        self.step = 0  # the minibatch whose exchange is under way, or next

    @property
    def num_examples(self) -> int:
        return len(self.shard)

    @property
    def steps(self) -> int:
        return len(self.batches)

    @property
    def done(self) -> bool:
        return self.step >= len(self.batches)

    def begin(self, client_flat: np.ndarray, round_index: int) -> None:
        """A turn from the client part `client_flat` (head, then top): this round's
        minibatches and a fresh optimizer at its learning rate."""
        set_flat(self.modules, client_flat)
        self.modules.train()
        self.round, self.step = round_index, 0
        self.batches = local_batches(
            len(self.shard),
            self.batch_size,
            round_index,
            self.run.seed,
            self.client_id,
            epochs=self.run.local_epochs,
            steps=self.run.local_steps,
        )
        self._optimizer = local_sgd(self.modules.parameters(), self.run, round_index)

    def part(self) -> np.ndarray:
        """(client part,) float32: the head (and top) as they stand."""
        return get_flat(self.modules)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.from_numpy(self.shard[self.batches[self.step]])
        return as_model_input(self.dataset.train_x[index]), self.dataset.train_y[index]

    def forward(self) -> Tensor:
        """The current minibatch through the head: the activations to send."""
        assert self._optimizer is not None, "begin() a turn first"
        self._optimizer.zero_grad(set_to_none=True)
        inputs, labels = self._batch()
        activations = self.parts.head(inputs)
        self._pending = {"activations": activations, "labels": labels}
        sent_labels = () if self.variant == USHAPED else labels.tolist()
        return encode(ACTIVATIONS, self.round, self.step, activations, self.up, labels=sent_labels)

    def top(self, output: Tensor) -> Tensor:
        """U-shaped: the server part's output through the top and the loss; the gradient
        of the loss at that output, to send back."""
        self._expect(output, SERVER_OUTPUT, "activations")
        labels = self._pending["labels"]
        if output.shape[0] != len(labels):
            raise SplitProtocolError(
                f"server output for {output.shape[0]} examples; the batch has {len(labels)}"
            )
        received = decode(output, self.down).requires_grad_(True)
        loss = F.cross_entropy(self.parts.top(received), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        assert received.grad is not None
        self._pending["output"] = received
        self._pending["loss"] = loss.detach()
        return encode(OUTPUT_GRADIENT, self.round, self.step, received.grad, self.up)

    def backward(self, gradient: Tensor) -> float:
        """The gradient at the cut through the head; the step. Returns the minibatch loss."""
        awaited = "output" if self.variant == USHAPED else "activations"
        self._expect(gradient, CUT_GRADIENT, awaited)
        activations = self._pending["activations"]
        if gradient.shape != tuple(activations.shape):
            raise SplitProtocolError(
                f"cut gradient of shape {list(gradient.shape)} for activations "
                f"{list(activations.shape)}"
            )
        activations.backward(decode(gradient, self.down))  # type: ignore[no-untyped-call]
        assert self._optimizer is not None
        self._optimizer.step()
        loss = float(self._pending["loss"]) if self.variant == USHAPED else gradient.loss
        self._pending = {}
        self.step += 1
        return loss

    def _expect(self, tensor: Tensor, kind: int, awaited: str) -> None:
        if awaited not in self._pending:
            raise SplitProtocolError(f"{tensor.what}: this client sent nothing it answers")
        if tensor.kind != kind or (tensor.round, tensor.step) != (self.round, self.step):
            raise SplitProtocolError(
                f"{tensor.what} arrived; this client awaits the answer to step {self.step} "
                f"of round {self.round}"
            )
