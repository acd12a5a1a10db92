"""Where a network's stages are, and which channel each stage's output favours (the paper's activation path)."""

from __future__ import annotations

import torch
from torch import nn

# Attribute names under which Hugging Face classifiers keep their head (BERT: classifier, GPT-2: score).
HEAD_NAMES = ("classifier", "score", "fc", "head")


class StageNotFoundError(ValueError):
    """Raised for a model whose stages this module cannot locate; pass ``stages=`` explicitly instead."""


def find_stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules whose outputs make up an activation path, in forward order, each with a readable name.

    - the MNIST CNN: its four conv blocks and the classifier;
    - a timm model: its ``feature_info`` stages (a ResNet: the stem and the four stages) and the classifier;
    - a Hugging Face transformer classifier: its transformer layers and the classification head.
    """
    model = getattr(model, "module", model)
    if hasattr(model, "blocks") and isinstance(model.blocks, nn.ModuleList) and hasattr(model, "classifier"):
        return [(f"block{i}", block) for i, block in enumerate(model.blocks)] + [("classifier", model.classifier)]
    backbone = getattr(model, "backbone", model)
    feature_info = getattr(backbone, "feature_info", None)
    if feature_info is not None and hasattr(backbone, "get_classifier"):
        modules = [info["module"] for info in feature_info]
        stages = [(name, backbone.get_submodule(name)) for name in modules]
        return stages + [("classifier", backbone.get_classifier())]
    layers = _transformer_layers(model)
    head = next(
        (getattr(model, name) for name in HEAD_NAMES if isinstance(getattr(model, name, None), nn.Module)), None
    )
    if layers is not None and head is not None:
        return [(f"layer{i}", layer) for i, layer in enumerate(layers)] + [("classifier", head)]
    raise StageNotFoundError(
        f"Cannot find the stages of {type(model).__name__}: expected the MNIST CNN, a timm model with "
        "feature_info, or a Hugging Face transformer with a layer list and a classification head. "
        "Pass the stages yourself as a list of (name, module)."
    )


def _transformer_layers(model: nn.Module) -> nn.ModuleList | None:
    """The first ``ModuleList`` named like a transformer's layer stack (``layer``, ``layers``, ``h``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layer", "layers", "h") and len(module):
            return module
    return None


def strongest_channel(output: torch.Tensor | tuple) -> torch.Tensor:
    """Per sample, the index of the channel with the highest mean activation.

    ``[B, C, H, W]`` averages over space, ``[B, T, C]`` (tokens) over tokens, ``[B, C]`` is taken as is.
    """
    if isinstance(output, tuple | list):
        output = output[0]
    if hasattr(output, "logits"):
        output = output.logits
    output = output.float()
    if output.dim() == 4:
        output = output.mean(dim=(2, 3))
    elif output.dim() == 3:
        output = output.mean(dim=1)
    elif output.dim() != 2:
        raise ValueError(f"Cannot read channels from a stage output of shape {tuple(output.shape)}.")
    return output.argmax(dim=1)
