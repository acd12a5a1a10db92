"""The paper's three views of every sample: its representation, its activation path and its loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import default_data_collator

from ..indexed_dataset import IndexedDataset
from ..regroup import GROUP_COLUMN, INDEX_COLUMN, accepts_output_features, score_samples
from .stages import find_stages, strongest_channel


@dataclass
class PatternViews:
    """Per sample: penultimate ``features`` [n, d], ``losses`` [n], activation ``paths`` [n, stages], ``labels``."""

    features: torch.Tensor
    losses: torch.Tensor
    paths: torch.Tensor
    labels: torch.Tensor
    stage_names: list[str]

    def subset(self, index: torch.Tensor) -> PatternViews:
        return PatternViews(
            self.features[index], self.losses[index], self.paths[index], self.labels[index], self.stage_names
        )


def collect_views(
    model: nn.Module,
    dataset,
    batch_size: int = 256,
    data_collator: Callable | None = None,
    stages: Sequence[tuple[str, nn.Module]] | None = None,
) -> PatternViews:
    """One no-grad pass over ``dataset`` (a torch-formatted ``datasets.Dataset`` with ``labels``).

    Losses and features come from ``regroup.score_samples`` (the pass regrouping uses); forward hooks on
    each stage record the activation path in the same pass. A model without ``output_features`` (a
    Hugging Face text classifier) gets as its representation the input of its classification head.
    """
    stages = list(stages) if stages is not None else find_stages(model)
    with_features = accepts_output_features(model)
    inputs_of_model = _input_names(model)
    path_parts: list[list[torch.Tensor]] = [[] for _ in stages]
    head_inputs: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []

    def record(position: int):
        def hook(module, args, output):
            path_parts[position].append(strongest_channel(output).cpu())
            if position == len(stages) - 1 and not with_features:
                head_inputs.append(_pooled(args[0]).float().cpu())

        return hook

    def split_batch(batch: dict) -> tuple[dict, torch.Tensor, dict]:
        labels.append(batch["labels"])
        inputs = {key: value for key, value in batch.items() if key in inputs_of_model}
        return inputs, batch["labels"], {INDEX_COLUMN: batch[INDEX_COLUMN]}

    columns = [c for c in dataset.column_names if c in inputs_of_model or c == "labels"]
    loader = DataLoader(
        IndexedDataset(dataset.select_columns(columns)),
        batch_size=batch_size,
        collate_fn=_without_group(data_collator or default_data_collator),
    )
    handles = [module.register_forward_hook(record(i)) for i, (_, module) in enumerate(stages)]
    try:
        losses, features = score_samples(
            model, loader, len(dataset), lambda t: t, split_batch, with_features=with_features
        )
    finally:
        for handle in handles:
            handle.remove()
    if features is None:
        features = torch.cat(head_inputs)
    paths = torch.stack([torch.cat(parts) for parts in path_parts], dim=1)
    return PatternViews(features, losses, paths, torch.cat(labels).cpu(), [name for name, _ in stages])


def _input_names(model: nn.Module) -> set[str]:
    import inspect

    model = getattr(model, "module", model)
    return set(inspect.signature(model.forward).parameters) - {"labels", "output_features"}


def _pooled(head_input: torch.Tensor) -> torch.Tensor:
    # Heads that take the whole token sequence (RoBERTa's) see [B, T, H]: its first token stands for the text.
    return head_input[:, 0] if head_input.dim() == 3 else head_input


def _without_group(collate: Callable) -> Callable:
    def collate_rows(rows: list[dict]) -> dict:
        return collate([{k: v for k, v in row.items() if k != GROUP_COLUMN} for row in rows])

    return collate_rows
