"""What the server part refuses, what the tensor assembler refuses, and how models cut."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from common.codec import checksum
from common.codecs import PayloadError, get_codec
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.models import build_model
from common.proto import signfed_pb2 as pb
from common.split_config import SplitConfig, check_split_run
from common.split_model import build_parts, cut_layers, cut_shapes, make_cut, stages
from common.split_tensor import (
    ACTIVATIONS,
    CUT_GRADIENT,
    OUTPUT_GRADIENT,
    SERVER_OUTPUT,
    Tensor,
    TensorAssembler,
    client_messages,
    encode,
)
from server.split_rounds import Rotation
from server.split_server import BadTensor, OutOfTurn, ServerModel, ServerPart

F32 = get_codec("float32")


def _part(variant: str, layer: str) -> ServerPart:
    run = RunConfig(dataset="mnist", model="net", learning_rate=0.1)
    parts = build_parts("net", (1, 28, 28), 10, 0, layer, variant)
    model = ServerModel(run, parts.server)
    model.begin(parts.cut.server_flat(np.zeros(parts.cut.num_params, np.float32)), 0)
    part = ServerPart(parts, cut_shapes(parts, (1, 28, 28)), 10, (F32, F32), model)
    part.begin(0, 4)
    return part


def _activations(
    shape: tuple[int, ...], step: int = 0, labels: tuple[int, ...] = (1, 2, 3, 4)
) -> Tensor:
    return encode(ACTIVATIONS, 0, step, torch.ones(shape), F32, labels=labels)


def test_a_good_exchange_answers_with_the_gradient_at_the_cut() -> None:
    part = _part("vanilla", "conv2")
    answer = part.take(_activations((4, 1024)))
    assert (answer.kind, answer.step, answer.shape) == (CUT_GRADIENT, 0, (4, 1024))
    assert answer.loss > 0
    assert part.step == 1


@pytest.mark.parametrize(
    ("tensor", "error", "text"),
    [
        (_activations((4, 1023)), BadTensor, "gives (batch, 1024)"),
        (_activations((5, 1024), labels=(1,) * 5), BadTensor, "batch size is 4"),
        (_activations((4, 1024), labels=(1, 2, 3)), BadTensor, "3 labels for a batch of 4"),
        (_activations((4, 1024), labels=(1, 2, 3, 10)), BadTensor, "label 10 out of range"),
        (_activations((4, 1024), step=1), OutOfTurn, "awaits step 0"),
        (encode(OUTPUT_GRADIENT, 0, 0, torch.ones(4, 10), F32), OutOfTurn, "sent no output"),
        (encode(SERVER_OUTPUT, 0, 0, torch.ones(4, 10), F32), BadTensor, "a client sends"),
        (Tensor(ACTIVATIONS, 0, 0, (4, 1024), b"\0" * 100, (1, 2, 3, 4)), BadTensor, "4096"),
    ],
    ids=["shape", "batch", "label count", "label range", "step", "gradient never asked",
         "server's kind", "short payload"],
)  # fmt: skip
def test_bad_tensors_are_refused_before_the_model(
    tensor: Tensor, error: type[Exception], text: str
) -> None:
    part = _part("vanilla", "conv2")
    before = part.model.flat()
    with pytest.raises(error, match=None) as caught:
        part.take(tensor)
    assert text in str(caught.value)
    assert np.array_equal(part.model.flat(), before)  # nothing trained


def test_ushaped_keeps_the_labels_and_answers_in_two_moves() -> None:
    part = _part("ushaped", "conv2")
    with pytest.raises(BadTensor, match="labels stay on the client"):
        part.take(_activations((4, 1024)))
    output = part.take(_activations((4, 1024), labels=()))
    assert (output.kind, output.shape) == (SERVER_OUTPUT, (4, 512))
    with pytest.raises(OutOfTurn, match="output gradient is due"):
        part.take(_activations((4, 1024), step=1, labels=()))
    with pytest.raises(BadTensor, match="for output"):
        part.take(encode(OUTPUT_GRADIENT, 0, 0, torch.ones(4, 511), F32))
    answer = part.take(encode(OUTPUT_GRADIENT, 0, 0, torch.ones(4, 512), F32))
    assert (answer.kind, answer.shape) == (CUT_GRADIENT, (4, 1024))


def _chunks(tensor: Tensor, chunk: int = 1000) -> list[pb.SplitTensor]:
    return [m.tensor for m in client_messages(tensor, F32, chunk)]


def test_the_assembler_rebuilds_a_chunked_tensor_and_its_layout() -> None:
    values = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    tensor = encode(ACTIVATIONS, 2, 7, values, F32, labels=(1, 2, 3, 4))
    assert tensor.channels_last
    chunks = _chunks(tensor, 64)
    assert len(chunks) == math.ceil(4 * 300 / 64)
    assembler = TensorAssembler(F32, 64, 300)
    results = [assembler.add(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1)
    assert results[-1] == tensor


def test_the_assembler_refuses_before_it_buffers() -> None:
    tensor = encode(ACTIVATIONS, 0, 0, torch.ones(4, 10), F32)
    with pytest.raises(PayloadError, match="exceeds the 39 values"):
        TensorAssembler(F32, 1000, 39).add(_chunks(tensor)[0])
    bad = _chunks(tensor)[0]
    bad.crc32 = checksum(b"other")
    with pytest.raises(PayloadError, match="checksum"):
        TensorAssembler(F32, 1000, 40).add(bad)
    first, second = _chunks(tensor, 80)
    second.step = 1
    assembler = TensorAssembler(F32, 80, 40)
    assembler.add(first)
    with pytest.raises(PayloadError, match="share its kind, round, step and shape"):
        assembler.add(second)


@pytest.mark.parametrize("model", ["net", "mlp", "resnet56"])
def test_stages_are_the_models_forward_and_cuts_are_its_flat_ranges(model: str) -> None:
    shape = (3, 32, 32) if model == "resnet56" else (1, 28, 28)
    full = build_model(model, shape, 10, 3)
    x = torch.randn(2, *shape)
    staged = x
    for _, stage in stages(full):
        staged = stage(staged)
    assert torch.equal(staged, full(x))
    for layer in cut_layers(model, "vanilla"):
        cut = make_cut(full, model, layer, "vanilla")
        flat = np.arange(cut.num_params, dtype=np.float32)
        client, server = cut.client_flat(flat), cut.server_flat(flat)
        assert np.array_equal(cut.join(client, server), flat)
        assert 0 < cut.head_end < cut.top_start == cut.num_params


def test_ushaped_needs_a_stage_between_the_cut_and_the_top() -> None:
    assert cut_layers("net", "ushaped") == ("conv1", "conv2")
    run = RunConfig(dataset="mnist", aggregator=AggregatorConfig(algorithm="split"))
    with pytest.raises(ConfigError, match="choose one of conv1, conv2"):
        check_split_run(SplitConfig(variant="ushaped", cut_layer="fc1"), run)
    digits = RunConfig(dataset="digits", aggregator=AggregatorConfig(algorithm="split"))
    with pytest.raises(ConfigError, match="too few layers"):
        check_split_run(SplitConfig(variant="ushaped"), digits)
    with pytest.raises(ConfigError, match="are for --algorithm split"):
        check_split_run(SplitConfig(cut_layer="conv1"), RunConfig(dataset="mnist"))
    with pytest.raises(ConfigError, match="sign1 does not suit"):
        check_split_run(
            SplitConfig(),
            RunConfig(
                dataset="mnist",
                update_encoding="sign1",
                aggregator=AggregatorConfig(algorithm="split"),
            ),
        )


def test_the_rotation_goes_round_and_drops_finished_clients() -> None:
    rotation, seen = Rotation([0, 1, 2]), []
    for _ in range(4):
        seen.append(rotation.current)
        rotation.advance()
    assert seen == [0, 1, 2, 0]  # now at 1
    rotation.remove(1)  # the current one finishes: the next in line is current
    assert rotation.current == 2
    rotation.remove(0)  # one before the current: the current stays
    assert (rotation.current, rotation.ids) == (2, [2])
    rotation.remove(2)
    assert rotation.current is None
