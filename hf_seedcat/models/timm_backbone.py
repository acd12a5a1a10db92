"""Any timm backbone as a ``PreTrainedModel`` classifier (ResNet-50 by default)."""

from __future__ import annotations

import timm
import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from .outputs import ClassifierOutput, classification_output
from .pretrained import timm_pretrained_overlay


@strict
class TimmClassifierConfig(PreTrainedConfig):
    """Which timm architecture and how many input channels; ``num_labels`` sizes the head.

    ``freeze_batchnorm`` keeps batch-norm statistics fixed in training (DomainBed's older default);
    ``image_mean``/``image_std`` record the normalisation the weights expect, for whoever reloads them.
    """

    model_type = "seedcat_timm_classifier"
    backbone: str = "resnet50"
    num_channels: int = 3
    freeze_batchnorm: bool = False
    image_mean: list[float] | None = None
    image_std: list[float] | None = None


class TimmForImageClassification(PreTrainedModel):
    """``timm.create_model`` behind the HF interface: logits, and pre-logit features on request."""

    config_class = TimmClassifierConfig
    main_input_name = "pixel_values"

    def __init__(
        self, config: TimmClassifierConfig, pretrained: bool = False, pretrained_file: str | None = None
    ) -> None:
        """``pretrained``: timm's weights (from an installed package if one ships them, else the Hub);
        ``pretrained_file``: a local weights file instead."""
        super().__init__(config)
        kwargs = {"num_classes": config.num_labels, "in_chans": config.num_channels}
        self.backbone = timm.create_model(config.backbone, **kwargs)
        overlay = timm_pretrained_overlay(config.backbone, self.backbone.state_dict(), pretrained, pretrained_file)
        if pretrained or overlay is not None:
            self.backbone = timm.create_model(
                config.backbone, pretrained=True, pretrained_cfg_overlay=overlay or {}, **kwargs
            )
        if config.image_mean is None:
            config.image_mean = list(self.backbone.pretrained_cfg.get("mean", (0.485, 0.456, 0.406)))
            config.image_std = list(self.backbone.pretrained_cfg.get("std", (0.229, 0.224, 0.225)))
        self.post_init()

    def train(self, mode: bool = True) -> TimmForImageClassification:
        super().train(mode)
        if mode and self.config.freeze_batchnorm:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

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
