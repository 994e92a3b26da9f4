import pytest
import torch
from torch import nn

from inference.engine import Normalized, eval_mode
from inference.engine.classifier import model_device
from inference.engine.testing import tiny_classifier


def test_normalized_applies_mean_and_std_before_the_net():
    net = nn.Identity()
    model = Normalized(net, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))

    expected = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 0.125]).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(model(x), expected)


def test_normalisation_constants_are_not_saved_with_the_weights():
    model = Normalized(nn.Linear(2, 2), mean=(0.5,) * 3, std=(0.5,) * 3)

    assert set(model.state_dict()) == {"net.weight", "net.bias"}


def test_loaded_classifiers_are_in_eval_mode_with_frozen_parameters():
    classifier = tiny_classifier()

    assert not any(module.training for module in classifier.model.modules())
    assert not any(p.requires_grad for p in classifier.model.parameters())
    assert classifier.device == model_device(classifier.model) == torch.device("cpu")


def test_input_gradients_still_flow_through_a_frozen_classifier():
    model = tiny_classifier().model
    x = torch.rand(2, 3, 32, 32, requires_grad=True)

    model(x).sum().backward()

    assert x.grad is not None and x.grad.abs().sum() > 0


def test_eval_mode_restores_each_submodules_own_flag():
    model = nn.Sequential(nn.Dropout(), nn.BatchNorm1d(3))
    model.train()
    model[1].eval()

    with eval_mode(model):
        assert not any(module.training for module in model.modules())

    assert model.training and model[0].training and not model[1].training


def test_eval_mode_restores_flags_when_the_body_raises():
    model = nn.Sequential(nn.Dropout())

    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError

    assert model[0].training


def test_model_device_of_a_module_without_tensors_is_the_cpu():
    assert model_device(nn.ReLU()) == torch.device("cpu")
