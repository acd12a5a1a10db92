"""Images or text: the model, the input transforms and the collator that fit a ``DomainDataset``.

The data scripts keep raw columns (image paths, text); this is where they meet a model: a timm
backbone with timm's augmentation, or any ``AutoModelForSequenceClassification`` with its tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedModel,
    default_data_collator,
)

from .data_scripts import DomainDataset
from .data_scripts.image_folder import (
    IMAGE_COLUMN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    augmentation_transforms,
    image_transform,
)
from .data_scripts.text_folder import tokenize_transform
from .models import create_image_classifier
from .models.pretrained import resolve_checkpoint

DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Evaluation (and scoring) batches sized to the input. 1024 is DomainBed's MNIST protocol: 28x28 inputs through a
# small CNN take a few MB per 1024 samples. A ResNet-50 at 224x224 or a transformer at 256 tokens takes a few
# hundred MB of activations per 64 samples in no-grad evaluation: 64 fits beside training on any GPU and on a
# CPU's memory, where 1024 would need gigabytes.
SMALL_IMAGE_SIDE = 64  # up to this side (pixels) an image counts as small
SMALL_INPUT_EVAL_BATCH = 1024
LARGE_INPUT_EVAL_BATCH = 64
# Sentence-level data (reviews, posts) rarely exceeds a few hundred word pieces, and all-MiniLM-L6-v2 was tuned
# on 128 and truncates at 256 (its model card): a cap keeps a tokenizer's 512 (or its "no limit" sentinel) from
# padding batches to lengths the data and the model never use.
TEXT_MAX_LENGTH_CAP = 256


@dataclass
class ModelAndInputs:
    """What the Trainer needs besides its arguments: the model, the data it reads and how to batch it."""

    model: PreTrainedModel
    data: DomainDataset
    data_collator: Any
    processing_class: Any = None  # the tokenizer, saved beside the model


def build_model_and_inputs(
    data: DomainDataset,
    *,
    backbone: str | None = None,
    pretrained: bool = False,
    pretrained_file: str | None = None,
    freeze_batchnorm: bool = False,
    image_size: int = 224,
    model_name_or_path: str | None = None,
    max_length: int | None = None,
) -> ModelAndInputs:
    """A model for ``data.modality`` and ``data`` with the transforms that turn its raw columns into inputs."""
    if data.modality == "text":
        return _text(data, model_name_or_path or DEFAULT_TEXT_MODEL, max_length)
    if data.modality != "image":
        raise ValueError(f"{data.name}: unknown modality {data.modality!r}; expected 'image' or 'text'.")
    raw_images = IMAGE_COLUMN in data.in_splits[0].column_names
    shape = (3, image_size, image_size) if raw_images else data.input_shape
    model = create_image_classifier(
        shape,
        data.num_classes,
        backbone,
        pretrained,
        pretrained_file=pretrained_file,
        freeze_batchnorm=freeze_batchnorm,
        class_names=data.class_names,
    )
    if raw_images:  # decode and augment lazily with the normalisation the weights were trained with
        mean = getattr(model.config, "image_mean", None) or IMAGENET_MEAN
        std = getattr(model.config, "image_std", None) or IMAGENET_STD
        train, evaluation = augmentation_transforms(image_size, mean, std)
        data = data.with_transforms(image_transform(train), image_transform(evaluation))
    return ModelAndInputs(model=model, data=data, data_collator=default_data_collator)


def input_side(data: DomainDataset, image_size: int) -> int | None:
    """The side in pixels of the images the model sees (``image_size`` for raw images); None for text."""
    if data.modality == "text":
        return None
    if IMAGE_COLUMN in data.in_splits[0].column_names:
        return image_size
    return max(data.input_shape[1:]) if len(data.input_shape) > 1 else data.input_shape[0]


def default_eval_batch_size(data: DomainDataset, image_size: int) -> int:
    """DomainBed's 1024 for small images (MNIST); 64 for large images and text, which take far more memory."""
    side = input_side(data, image_size)
    return SMALL_INPUT_EVAL_BATCH if side is not None and side <= SMALL_IMAGE_SIDE else LARGE_INPUT_EVAL_BATCH


def text_max_length(max_length: int | None, tokenizer_max_length: int, max_position_embeddings: int | None) -> int:
    """``max_length`` if given (checked against the model), else the tokenizer's, capped at
    ``TEXT_MAX_LENGTH_CAP`` and never beyond the model's position embeddings."""
    if max_length is not None:
        if max_length < 1:
            raise ValueError(f"max_length must be a positive number of tokens, got {max_length}.")
        if max_position_embeddings is not None and max_length > max_position_embeddings:
            raise ValueError(
                f"max_length {max_length} exceeds the model's {max_position_embeddings} position embeddings; "
                f"pass --max_length {max_position_embeddings} or less."
            )
        return max_length
    limits = [tokenizer_max_length, TEXT_MAX_LENGTH_CAP, max_position_embeddings]
    return min(limit for limit in limits if limit is not None)


def _text(data: DomainDataset, model_name_or_path: str, max_length: int | None) -> ModelAndInputs:
    path = resolve_checkpoint(model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    names = data.class_names or [str(i) for i in range(data.num_classes)]
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=data.num_classes,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )
    positions = getattr(model.config, "max_position_embeddings", None)
    transform = tokenize_transform(tokenizer, text_max_length(max_length, tokenizer.model_max_length, positions))
    return ModelAndInputs(
        model=model,
        data=data.with_transforms(transform, transform),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
