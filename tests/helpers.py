"""What the tests build again and again: small datasets, a tiny image model and its config, tiny text models,
and a trainer that records what it saw. Fixtures live in conftest.py; this module holds plain functions, so a
test reads what it builds.

Everything here is small on purpose: a few dozen 2x8x8 images or 8-token sentences, models with a few
thousand parameters, so a test that trains for real finishes in about a second on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import datasets
import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from hf_seedcat import SeedCatConfig, SeedCatTrainer
from hf_seedcat.models import MnistCnnConfig, MnistCnnForImageClassification

# ------------------------------------------------------------------------------------------------- data


def make_domain_dataset(sizes: dict[str, int], shape: tuple[int, ...] = (2, 8, 8), seed: int = 0, **columns):
    """A small in-memory dataset with `pixel_values`, `labels` and a ClassLabel `domain` column.

    The label is readable from the image (its mean), so a model can learn it in a few steps. Extra keyword
    arguments become float32 columns (ground-truth attributes the model never sees).
    """
    generator = np.random.default_rng(seed)
    names = list(sizes)
    domain = np.concatenate([np.full(n, i) for i, n in enumerate(sizes.values())])
    labels = generator.integers(0, 2, len(domain))
    pixels = generator.random((len(domain), *shape), dtype=np.float32) * 0.5 + labels[:, None, None, None] * 0.5
    features = datasets.Features(
        {
            "pixel_values": datasets.Array3D(shape, "float32"),
            "labels": datasets.Value("int64"),
            "domain": datasets.ClassLabel(names=names),
            **{name: datasets.Value("float32") for name in columns},
        }
    )
    data = {"pixel_values": pixels, "labels": labels, "domain": domain, **columns}
    return datasets.Dataset.from_dict(data, features=features).with_format("torch")


def make_text_dataset(sizes: dict[str, int], length: int = 8, vocab: int = 40) -> datasets.Dataset:
    """Token ids whose label is readable from the first token, with a ClassLabel domain column."""
    rng = np.random.default_rng(0)
    domain = np.concatenate([np.full(n, i) for i, n in enumerate(sizes.values())])
    labels = rng.integers(0, 2, len(domain))
    ids = rng.integers(5, vocab, (len(domain), length))
    ids[:, 0] = 1 + labels
    features = datasets.Features(
        {
            "input_ids": datasets.Sequence(datasets.Value("int64")),
            "attention_mask": datasets.Sequence(datasets.Value("int64")),
            "labels": datasets.Value("int64"),
            "domain": datasets.ClassLabel(names=list(sizes)),
        }
    )
    data = {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": labels, "domain": domain}
    return datasets.Dataset.from_dict(data, features=features).with_format("torch")


# ----------------------------------------------------------------------------------------------- models


def tiny_model(seed: int = 0) -> MnistCnnForImageClassification:
    """The MNIST CNN on 2-channel images with 2 labels, initialised from ``seed`` (the same weights each call)."""
    torch.manual_seed(seed)
    return MnistCnnForImageClassification(MnistCnnConfig(num_channels=2, num_labels=2))


def tiny_config(tmp_path, **overrides) -> SeedCatConfig:
    """A seedcat config for a few CPU steps on ``make_domain_dataset``: 6 steps of 16, K = 2, a regroup
    every 3 steps, a log every 2, nothing saved or reported. ``overrides`` replace any of them."""
    settings = dict(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=1e-3,
        regroup_steps=3,
        groups_per_domain=2,
        logging_steps=2,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    settings.update(overrides)
    return SeedCatConfig(**settings)


def tiny_bert(vocab_size: int = 40, max_position_embeddings: int = 16) -> BertForSequenceClassification:
    """A one-layer BERT with 16 hidden units and no dropout, initialised from seed 0: an HF text classifier
    small enough to train in milliseconds."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_position_embeddings,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def save_tiny_text_model(folder: Path, words: list[str], max_position_embeddings: int = 64) -> Path:
    """A tiny BERT and a WordPiece tokenizer over ``words`` saved as a checkpoint folder, for
    ``--model_name_or_path``: the text path (tokenizer, transform, collator, HF model) without MiniLM's weights.
    The tokenizer sets no length limit, so the model's position embeddings bound the default max_length."""
    folder.mkdir(parents=True, exist_ok=True)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (folder / "vocab.txt").write_text("\n".join([*special, *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(folder)
    tiny_bert(len(special) + len(words), max_position_embeddings).save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------------------------- trainers


class Regroup(NamedTuple):
    """One regroup as a test sees it: q before (None at the first) and after, and the number of groups."""

    step: int
    q_before: torch.Tensor | None
    q_after: torch.Tensor
    num_groups: int


class RecordingTrainer(SeedCatTrainer):
    """A SeedCatTrainer that keeps what every training ``compute_loss`` call saw (``seen``, without the
    pixels), every regroup (``regroups``), the losses each regroup ranked (``ranked``) and every objective
    call's per-sample losses, groups and result (``objectives``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[dict[str, torch.Tensor]] = []
        self.regroups: list[Regroup] = []
        self.ranked: list[torch.Tensor] = []
        self.objectives: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        objective = self.seed_categories.objective

        def recording_objective(per_sample, groups, *args):
            loss = objective(per_sample, groups, *args)
            self.objectives.append((per_sample.detach().clone(), groups.clone(), loss.detach().clone()))
            return loss

        self.seed_categories.objective = recording_objective

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.seen.append({key: value.clone() for key, value in inputs.items() if key != "pixel_values"})
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def regroup(self, step):
        categories = self.seed_categories
        before = None if categories.weights is None else categories.weights.q.clone()
        super().regroup(step)
        self.regroups.append(Regroup(step, before, categories.weights.q.clone(), len(categories.group_names)))
        if categories.regroup_losses is not None:
            self.ranked.append(categories.regroup_losses.clone())
