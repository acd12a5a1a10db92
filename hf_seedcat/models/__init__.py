"""Image classifiers that return logits and, on request, penultimate features."""

from __future__ import annotations

from transformers import PreTrainedModel

from .mnist_cnn import MnistCnnConfig, MnistCnnForImageClassification
from .outputs import ClassifierOutput
from .timm_backbone import TimmClassifierConfig, TimmForImageClassification


def create_image_classifier(
    input_shape: tuple[int, ...], num_classes: int, backbone: str | None = None, pretrained: bool = False
) -> PreTrainedModel:
    """DomainBed's rule: the MNIST CNN for 28x28 inputs, else a timm backbone (ResNet-50 by default)."""
    if backbone is None:
        backbone = "mnist_cnn" if tuple(input_shape[1:]) == (28, 28) else "resnet50"
    if backbone == "mnist_cnn":
        if pretrained:
            raise ValueError("The MNIST CNN has no pretrained weights; drop --pretrained.")
        return MnistCnnForImageClassification(MnistCnnConfig(num_channels=input_shape[0], num_labels=num_classes))
    config = TimmClassifierConfig(backbone=backbone, num_channels=input_shape[0], num_labels=num_classes)
    return TimmForImageClassification(config, pretrained=pretrained)


__all__ = [
    "ClassifierOutput",
    "MnistCnnConfig",
    "MnistCnnForImageClassification",
    "TimmClassifierConfig",
    "TimmForImageClassification",
    "create_image_classifier",
]
