"""DomainBed's MNIST CNN as a ``PreTrainedModel``, so it saves, loads and shares like any HF model."""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from .outputs import ClassifierOutput, classification_output


@strict
class MnistCnnConfig(PreTrainedConfig):
    """Input channels of DomainBed's ``MNIST_CNN`` featurizer; ``num_labels`` sizes the linear head."""

    model_type = "seedcat_mnist_cnn"
    num_channels: int = 1


class MnistCnnForImageClassification(PreTrainedModel):
    """conv 64 -> conv 128 (stride 2) -> conv 128 -> conv 128, each ReLU then GroupNorm(8); avg pool; linear.

    Layer for layer DomainBed's ``networks.MNIST_CNN`` (128 features) with its linear classifier.
    """

    config_class = MnistCnnConfig
    main_input_name = "pixel_values"
    num_features = 128

    def __init__(self, config: MnistCnnConfig) -> None:
        super().__init__(config)
        widths = [config.num_channels, 64, 128, 128, 128]
        strides = [1, 2, 1, 1]
        blocks = []
        for c_in, c_out, stride in zip(widths[:-1], widths[1:], strides, strict=True):
            blocks.append(
                nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=1), nn.ReLU(), nn.GroupNorm(8, c_out))
            )
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(self.num_features, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default initialisation, as DomainBed uses, rather than HF's normal(0.02).
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values
        for block in self.blocks:
            x = block(x)
        return self.pool(x).flatten(1)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_features: bool = False,
    ) -> ClassifierOutput:
        features = self.forward_features(pixel_values)
        return classification_output(features, self.classifier(features), labels, output_features)
