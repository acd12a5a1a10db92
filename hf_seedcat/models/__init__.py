"""Image classifiers that return logits and, on request, penultimate features."""

from __future__ import annotations

from transformers import PreTrainedModel

from .mnist_cnn import MnistCnnConfig, MnistCnnForImageClassification
from .outputs import ClassifierOutput
from .timm_backbone import TimmClassifierConfig, TimmForImageClassification


def create_image_classifier(
    input_shape: tuple[int, ...],
    num_classes: int,
    backbone: str | None = None,
    pretrained: bool = False,
    *,
    pretrained_file: str | None = None,
    freeze_batchnorm: bool = False,
    class_names: list[str] | None = None,
) -> PreTrainedModel:
    """DomainBed's rule: the MNIST CNN for 28x28 inputs, else a timm backbone (ResNet-50 by default).

    ``pretrained`` loads timm's weights (from an installed package that ships them, else the Hub),
    ``pretrained_file`` a local weights file; ``class_names`` name the labels in the saved config.
    """
    if backbone is None:
        backbone = "mnist_cnn" if tuple(input_shape[1:]) == (28, 28) else "resnet50"
    labels = {"id2label": dict(enumerate(class_names))} if class_names else {}
    if backbone == "mnist_cnn":
        if pretrained or pretrained_file:
            raise ValueError("The MNIST CNN has no pretrained weights; drop --pretrained/--pretrained_file.")
        config = MnistCnnConfig(num_channels=input_shape[0], num_labels=num_classes, **labels)
        return MnistCnnForImageClassification(config)
    config = TimmClassifierConfig(
        backbone=backbone,
        num_channels=input_shape[0],
        num_labels=num_classes,
        freeze_batchnorm=freeze_batchnorm,
        **labels,
    )
    return TimmForImageClassification(config, pretrained=pretrained, pretrained_file=pretrained_file)


__all__ = [
    "ClassifierOutput",
    "MnistCnnConfig",
    "MnistCnnForImageClassification",
    "TimmClassifierConfig",
    "TimmForImageClassification",
    "create_image_classifier",
]
