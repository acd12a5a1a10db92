"""Any timm backbone as a ``PreTrainedModel`` classifier (ResNet-50 by default)."""

from __future__ import annotations

import timm
import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from .outputs import ClassifierOutput, classification_output


@strict
class TimmClassifierConfig(PreTrainedConfig):
    """Which timm architecture and how many input channels; ``num_labels`` sizes the head."""

    model_type = "seedcat_timm_classifier"
    backbone: str = "resnet50"
    num_channels: int = 3


class TimmForImageClassification(PreTrainedModel):
    """``timm.create_model`` behind the HF interface: logits, and pre-logit features on request."""

    config_class = TimmClassifierConfig
    main_input_name = "pixel_values"

    def __init__(self, config: TimmClassifierConfig, pretrained: bool = False) -> None:
        super().__init__(config)
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=pretrained,
            num_classes=config.num_labels,
            in_chans=config.num_channels,
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # timm initialises (or loads) its own weights; HF's re-initialisation would overwrite them.
        return

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(self.backbone.forward_features(pixel_values), pre_logits=True)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_features: bool = False,
    ) -> ClassifierOutput:
        features = self.forward_features(pixel_values)
        logits = self.backbone.get_classifier()(features)
        return classification_output(features, logits, labels, output_features)
