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
    transform = tokenize_transform(tokenizer, max_length or tokenizer.model_max_length)
    return ModelAndInputs(
        model=model,
        data=data.with_transforms(transform, transform),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
