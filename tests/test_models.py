"""The image models: DomainBed's MNIST CNN and the timm wrapper return logits and features, save and reload."""

from __future__ import annotations

import pytest
import torch

from hf_seedcat.models import (
    MnistCnnForImageClassification,
    TimmForImageClassification,
    create_image_classifier,
)


def test_mnist_cnn_is_domainbeds_architecture():
    model = create_image_classifier((2, 28, 28), 2)
    assert isinstance(model, MnistCnnForImageClassification)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (2, 64, 1),
        (64, 128, 2),
        (128, 128, 1),
        (128, 128, 1),
    ]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert [n.num_groups for n in norms] == [8, 8, 8, 8]
    output = model(torch.rand(5, 2, 28, 28), output_features=True)
    assert output.logits.shape == (5, 2) and output.features.shape == (5, 128)
    assert model(torch.rand(5, 2, 28, 28)).features is None


def test_timm_backbone_returns_logits_and_pre_logit_features():
    model = create_image_classifier((3, 32, 32), 7, backbone="resnet18")
    assert isinstance(model, TimmForImageClassification)
    output = model(torch.rand(2, 3, 32, 32), labels=torch.tensor([0, 6]), output_features=True)
    assert output.logits.shape == (2, 7) and output.features.shape == (2, 512)
    assert output.loss is not None and torch.isfinite(output.loss)


def test_default_backbone_for_large_images_is_resnet50():
    model = create_image_classifier((3, 224, 224), 5)
    assert model.config.backbone == "resnet50" and model.num_features == 2048


@pytest.mark.parametrize(("shape", "backbone"), [((2, 28, 28), None), ((3, 32, 32), "resnet18")])
def test_save_and_reload_give_the_same_logits(tmp_path, shape, backbone):
    model = create_image_classifier(shape, 3, backbone).eval()
    model.save_pretrained(tmp_path)
    reloaded = type(model).from_pretrained(tmp_path).eval()
    x = torch.rand(2, *shape)
    assert torch.allclose(model(x).logits, reloaded(x).logits)


def test_mnist_cnn_refuses_pretrained():
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_image_classifier((1, 28, 28), 10, pretrained=True)
