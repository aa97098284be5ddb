"""The paper's Net, the MLP, seeded construction and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.evaluate import evaluate
from common.models import MLP, Net, build_model
from common.params import get_flat, num_params


def test_net_has_the_papers_parameter_count_and_output_shape() -> None:
    model = build_model("net", (1, 28, 28), 10, seed=0)
    assert isinstance(model, Net)
    assert num_params(model) == 582_026
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_mlp_sizes_and_flattens_image_input() -> None:
    model = build_model("mlp", (64,), 10, seed=0)
    assert isinstance(model, MLP)
    assert num_params(model) == 64 * 64 + 64 + 64 * 10 + 10
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    image_mlp = build_model("mlp", (1, 28, 28), 10, seed=0)
    assert image_mlp(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name, shape", [("net", (1, 28, 28)), ("mlp", (64,))])
def test_same_seed_gives_bit_identical_parameters(name: str, shape: tuple[int, ...]) -> None:
    first = get_flat(build_model(name, shape, 10, seed=7))
    second = get_flat(build_model(name, shape, 10, seed=7))
    other = get_flat(build_model(name, shape, 10, seed=8))
    assert first.tobytes() == second.tobytes()
    assert first.tobytes() != other.tobytes()


def test_build_model_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    build_model("net", (1, 28, 28), 10, seed=0)
    assert torch.equal(torch.rand(4), expected)


def test_initialisation_matches_pytorch_default_ranges() -> None:
    # Kaiming-uniform with a = sqrt(5) gives weights within +-1/sqrt(fan_in), as stock layers.
    model = build_model("net", (1, 28, 28), 10, seed=0)
    assert isinstance(model, Net)
    bound = 1 / (1024**0.5)
    weight = model.fc1.weight
    assert weight.abs().max() <= bound
    assert weight.abs().max() > 0.9 * bound  # filled, not left at zero or garbage
    assert np.isfinite(get_flat(model)).all()


def test_build_model_rejects_unknown_names_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", (1, 28, 28), 10, seed=0)
    with pytest.raises(ValueError, match="square image"):
        build_model("net", (64,), 10, seed=0)


def test_evaluate_reports_accuracy_and_loss_and_restores_mode() -> None:
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))  # logits = inputs: predicts the larger coordinate
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    model.train()
    accuracy, loss = evaluate(model, x, y, batch_size=3)  # uneven batches: 3 + 1
    assert accuracy == pytest.approx(0.75)
    expected = torch.nn.functional.cross_entropy(x, y).item()
    assert loss == pytest.approx(expected, rel=1e-6)
    assert model.training
    model.eval()
    evaluate(model, x, y)
    assert not model.training
