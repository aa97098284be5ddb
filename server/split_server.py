"""The server's half of split learning: its part of the model and one client's
minibatch exchange with it (see client/split_client.py for the client's).

`ServerPart` checks every tensor before it reaches the model: its kind, its place in
the exchange (round, step), its shape against the cut, its batch against the client's
batch size, its labels against the classes. A malformed tensor is a `BadTensor`
(INVALID_ARGUMENT: the client must change), one out of turn an `OutOfTurn`
(FAILED_PRECONDITION: e.g. a gradient for a batch the server never answered); either
ends that client's stream only. Imports no grpc: the simulation runs it as it is.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from common.codecs import Codec, PayloadError
from common.config import RunConfig
from common.local_sgd import local_sgd
from common.params import get_flat, set_flat
from common.split_model import USHAPED, Parts
from common.split_tensor import (
    ACTIVATIONS,
    CUT_GRADIENT,
    OUTPUT_GRADIENT,
    SERVER_OUTPUT,
    Tensor,
    decode,
    encode,
)


class BadTensor(ValueError):
    """A tensor that cannot be what the exchange needs (shape, batch, labels, values)."""


class OutOfTurn(ValueError):
    """A tensor that does not answer anything this part is waiting for."""


class ServerModel:
    """The server's stages and their SGD optimizer (the run's lr at the round, and the
    clients' --client-momentum and --weight-decay: "the same optimiser settings"), begun
    afresh from x: per turn (SplitNN), per client (SFLV1) or per round for every client
    at once (SFLV2)."""

    def __init__(self, run: RunConfig, module: torch.nn.Module) -> None:
        self.run, self.module = run, module
        self.optimizer: torch.optim.Optimizer | None = None

    def begin(self, server_flat: np.ndarray, round_index: int) -> None:
        set_flat(self.module, server_flat)
        self.module.train()
        self.optimizer = local_sgd(self.module.parameters(), self.run, round_index)

    def flat(self) -> np.ndarray:
        return get_flat(self.module)


class ServerPart:
    """One client's exchange with a server model: where it is (round, step), what it
    may send (its batch size), what it is owed (U-shaped: the output's gradient)."""

    def __init__(
        self,
        parts: Parts,
        shapes: tuple[tuple[int, ...], ...],
        num_classes: int,
        codecs: tuple[Codec, Codec],  # (activations up, gradients down)
        model: ServerModel,
    ) -> None:
        self.parts, self.num_classes, self.model = parts, num_classes, model
        self.cut_shape, self.output_shape = shapes
        self.up, self.down = codecs
        self.round = -1
        self.step = 0  # the next activations this part takes
        self.max_batch = 0
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None  # U-shaped (a, out)

    def begin(self, round_index: int, max_batch: int) -> None:
        self.round, self.step, self.max_batch, self._pending = round_index, 0, max_batch, None

    @property
    def _optimizer(self) -> torch.optim.Optimizer:
        assert self.model.optimizer is not None, "begin() the server model first"
        return self.model.optimizer

    def take(self, tensor: Tensor) -> Tensor:
        """The answer to a client's tensor (a cut gradient, or U-shaped the output)."""
        if tensor.kind == ACTIVATIONS:
            return self._activations(tensor)
        if tensor.kind == OUTPUT_GRADIENT:
            return self._output_gradient(tensor)
        raise BadTensor(f"{tensor.what}: a client sends activations or output gradients")

    def _activations(self, tensor: Tensor) -> Tensor:
        if self._pending is not None:
            raise OutOfTurn(f"{tensor.what}: step {self.step - 1}'s output gradient is due")
        self._in_turn(tensor, self.step)
        batch = tensor.shape[0]
        if tensor.shape[1:] != self.cut_shape:
            raise BadTensor(
                f"activations of shape {list(tensor.shape)}; the cut after "
                f"{self.parts.cut.layer} gives (batch, {', '.join(map(str, self.cut_shape))})"
            )
        if batch > self.max_batch:
            raise BadTensor(
                f"batch of {batch} examples; this client's batch size is {self.max_batch}"
            )
        ushaped = self.parts.cut.variant == USHAPED
        labels = self._labels(tensor, batch, ushaped)
        activations = self._values(tensor, self.up).requires_grad_(True)
        self._optimizer.zero_grad(set_to_none=True)
        output = self.model.module(activations)
        self.step += 1
        if ushaped:
            self._pending = (activations, output)
            return encode(SERVER_OUTPUT, self.round, tensor.step, output, self.down)
        loss = F.cross_entropy(output, labels)
        loss.backward()  # type: ignore[no-untyped-call]
        self._optimizer.step()
        assert activations.grad is not None
        return encode(
            CUT_GRADIENT, self.round, tensor.step, activations.grad, self.down,
            loss=float(loss.detach()),
        )  # fmt: skip

    def _output_gradient(self, tensor: Tensor) -> Tensor:
        if self._pending is None:
            raise OutOfTurn(f"{tensor.what}: this server sent no output it answers")
        self._in_turn(tensor, self.step - 1)
        activations, output = self._pending
        if tensor.shape != tuple(output.shape):
            raise BadTensor(
                f"output gradient of shape {list(tensor.shape)} for output {list(output.shape)}"
            )
        if tensor.labels:
            raise BadTensor("an output gradient carries no labels")
        output.backward(self._values(tensor, self.up))  # type: ignore[no-untyped-call]
        assert activations.grad is not None
        self._optimizer.step()
        self._pending = None
        return encode(CUT_GRADIENT, self.round, tensor.step, activations.grad, self.down)

    def _in_turn(self, tensor: Tensor, step: int) -> None:
        if (tensor.round, tensor.step) != (self.round, step):
            raise OutOfTurn(
                f"{tensor.what} arrived; this server awaits step {step} of round {self.round}"
            )

    def _labels(self, tensor: Tensor, batch: int, ushaped: bool) -> torch.Tensor:
        if ushaped:
            if tensor.labels:
                raise BadTensor("U-shaped: the labels stay on the client; send none")
            return torch.empty(0, dtype=torch.int64)
        if len(tensor.labels) != batch:
            raise BadTensor(f"{len(tensor.labels)} labels for a batch of {batch} activations")
        labels = np.asarray(tensor.labels, dtype=np.int64)
        if labels.min() < 0 or labels.max() >= self.num_classes:
            worst = int(labels.max())
            raise BadTensor(
                f"label {worst} out of range: the dataset has {self.num_classes} classes"
            )
        return torch.from_numpy(labels)

    @staticmethod
    def _values(tensor: Tensor, codec: Codec) -> torch.Tensor:
        try:
            return decode(tensor, codec)
        except PayloadError as exc:
            raise BadTensor(f"{tensor.what}: {exc}") from None
