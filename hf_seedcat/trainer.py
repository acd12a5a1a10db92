"""SeedCatTrainer: ``transformers.Trainer`` adapted to seed categories (Algorithm 1 of the paper).

The method lives in ``SeedCategories`` (who is in which category, how much each weighs, when they are
recomputed); this class adapts it to the Trainer, as TRL's trainers adapt their losses: it builds the
group-balanced loader, runs the scoring pass, and hands per-sample losses, process reductions and
checkpoint folders to ``SeedCategories``. ERM and GroupDRO are configurations of the same path.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import Trainer

from .accumulation import window_losses
from .checkpointing import AtomicCheckpoints, check_writable
from .config import SeedCatConfig
from .console_logging import use_console_log
from .finite_checks import DeferredFiniteChecks, NonFiniteLossError
from .indexed_dataset import (
    GROUP_COLUMN,
    INDEX_COLUMN,
    IndexedDataset,
    check_same_rows,
    check_training_dataset,
    evaluation_columns,
    hidden_columns,
    split_batch,
)
from .regroup import RegroupCallback
from .sampling import SAMPLER_SCHEME, GroupBalancedBatchSampler, group_balanced_loader
from .scoring import check_gives_features, score_samples, scoring_loader
from .seed_categories import SeedCategories
from .tensor_rows import TensorRowsCache

__all__ = ["NonFiniteLossError", "SeedCatTrainer"]


class SeedCatTrainer(AtomicCheckpoints, Trainer):
    """Trains with seed categories, GroupDRO or ERM, as ``SeedCatConfig`` says. The training set is a
    ``datasets.Dataset`` with integer ``labels`` and the ``args.domain_column`` column (kept for
    ``compute_loss`` without ``remove_unused_columns=False``); the model returns ``.logits``."""

    args: SeedCatConfig
    # compute_loss never hands num_items_in_batch to the model, so the Trainer must always divide by the k
    # micro-batches it accumulates (it does not for models with loss kwargs, e.g. HF text models).
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, scoring_dataset: Any = None, **kwargs: Any) -> None:
        """``scoring_dataset``: the training rows, in the same order, as the regroup pass should see them,
        e.g. without the training augmentation (a seed category should not depend on one random crop);
        default: ``train_dataset`` itself."""
        config = kwargs.get("args", args[1] if len(args) > 1 else None)
        if isinstance(config, SeedCatConfig) and config.should_save:
            check_writable(config.output_dir)  # now, not at the first checkpoint hours later
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, SeedCatConfig):
            raise TypeError(f"SeedCatTrainer needs SeedCatConfig arguments, got {type(self.args).__name__}.")
        check_same_rows(scoring_dataset, self.train_dataset)
        self.scoring_dataset = scoring_dataset
        self.seed_categories = SeedCategories.from_config(self.args, device=self.args.device)
        self._sampler: GroupBalancedBatchSampler | None = None
        self._tensor_rows = TensorRowsCache()  # in-memory datasets read as tensors (tensor_rows.py)
        self._finite_checks = DeferredFiniteChecks()
        self.add_callback(RegroupCallback(self))
        use_console_log(self)  # one short line per log, not Trainer's dicts of every group's q (console_logging.py)

    # ---- data ---------------------------------------------------------------------------------

    def _set_signature_columns_if_needed(self) -> None:
        """Keep the domain column and our id columns next to the model's own inputs."""
        if self._signature_columns is None:
            super()._set_signature_columns_if_needed()
            self._signature_columns += [self.args.domain_column, INDEX_COLUMN, GROUP_COLUMN]
            # Evaluation groups need their attributes in the batch; _split_batch takes them out before the model.
            self._signature_columns += list(self.args.attribute_columns or [])

    def _remove_unused_columns(self, dataset: Any, description: str | None = None) -> Any:
        """Leave a dataset with a transform alone: its raw columns (image paths, text) are what the
        transform turns into the model's inputs, so they must reach it."""
        if getattr(dataset, "format", {}).get("type") == "custom":
            return dataset
        return super()._remove_unused_columns(dataset, description)

    def get_train_dataloader(self) -> DataLoader:
        """Every batch holds ``batch_size // num_groups`` samples of each current group. Not wrapped by
        Accelerate: the sampler shards by process itself, and Accelerate's loader reads one batch ahead,
        which would draw the batch after a regroup from the old groups."""
        check_training_dataset(self.train_dataset, self.args.domain_column)
        dataset = IndexedDataset(
            self._tensor_rows(self._remove_unused_columns(self.train_dataset, description="training"))
        )
        loader = group_balanced_loader(dataset, self._train_batch_size, self.args, self.data_collator)
        self._sampler = loader.batch_sampler
        self._install_groups()
        return loader

    def get_eval_dataloader(self, eval_dataset: Any = None) -> DataLoader:
        """Trainer's loader, over tensors when the split is an in-memory tensor dataset (``tensor_rows``):
        DomainBed's protocol evaluates every split every 100 steps, and Arrow's per-batch conversion
        would otherwise cost more than the model."""
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if hasattr(dataset, "column_names") and not isinstance(dataset, dict):
            dataset = self._tensor_rows(self._remove_unused_columns(dataset, description="evaluation"))
        return super().get_eval_dataloader(dataset)

    def _install_groups(self) -> None:
        """Hand the current grouping to the sampler (once both exist)."""
        categories = self.seed_categories
        if self._sampler is not None and categories.group_ids is not None:
            self._sampler.set_groups(categories.group_ids, len(categories.group_names), categories.group_names)

    def _prepare_input(self, data: Any) -> Any:
        """Trainer's copy to the device, without blocking: batches come from pinned memory on a GPU machine."""
        if isinstance(data, torch.Tensor) and not self.is_deepspeed_enabled:
            return data.to(device=self.args.device, non_blocking=True)
        return super()._prepare_input(data)

    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: torch.device) -> tuple[list, Any]:
        """The micro-batches of one optimizer step; with more than one, q moves once, from all of them
        (``SeedCategories.open_window``), which takes one extra forward without gradients."""
        batches, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if len(batches) > 1 and GROUP_COLUMN in batches[0]:
            model = self.model_wrapped if self.model_wrapped is not None else self.model
            with self.compute_loss_context_manager():
                losses = window_losses(model, [self._prepare_inputs(b) for b in batches], self._split_batch)
            reduce = lambda t: self.accelerator.reduce(t, reduction="sum")  # noqa: E731
            self.seed_categories.open_window([(loss, extras[GROUP_COLUMN]) for loss, extras in losses], reduce)
        return batches, num_items_in_batch

    def _split_batch(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor, dict[str, Any]]:
        """Model inputs, labels, and the columns the model must not see (domain, ids, ground-truth attributes)."""
        hidden = hidden_columns(self.args.domain_column, self.args.attribute_columns, self.args.group_column)
        return split_batch(inputs, hidden)

    # ---- seed categories ----------------------------------------------------------------------

    def regroup(self, step: int) -> None:
        """Recompute the seed categories from the current model (``SeedCategories.regroup``) and hand them
        to the sampler."""
        categories = self.seed_categories
        categories.ensure_units(self.train_dataset)
        model = self.model_wrapped if self.model_wrapped is not None else self.model
        if categories.needs_features:
            check_gives_features(model, self.args.grouping)
        if categories.weights is not None and categories.changes_at(step):
            # The window's last q, before the regroup restarts it; the flag keeps this step's own log.
            should_log = self.control.should_log
            self.log(categories.metrics())
            self.control.should_log = should_log
        score = lambda indices, with_features: self._score(model, with_features, indices)  # noqa: E731
        if categories.regroup(step, score, self.accelerator.gather, self.accelerator.num_processes):
            self._install_groups()

    def _score(
        self, model: torch.nn.Module, with_features: bool, indices: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The regroup pass over the training rows (``scoring_dataset`` if given; only ``indices`` if given),
        in the run's mixed precision (bf16 halves it on CPUs with AVX512-BF16); losses stay float32."""
        rows = self.scoring_dataset if self.scoring_dataset is not None else self.train_dataset
        rows = IndexedDataset(self._tensor_rows(self._remove_unused_columns(rows, description="regroup")))
        loader = scoring_loader(rows, indices, self.args, self.data_collator)
        with self.accelerator.autocast():
            return score_samples(
                model,
                self.accelerator.prepare(loader),
                len(self.seed_categories.units),
                self.accelerator.gather_for_metrics,
                self._split_batch,
                with_features=with_features,
                expected=indices,
            )

    # ---- the objective ------------------------------------------------------------------------

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        """Per-sample loss -> ``SeedCategories.objective``; the plain mean in evaluation (or without groups)."""
        categories = self.seed_categories
        model_inputs, labels, extras = self._split_batch(inputs)
        remember = model.training and categories.remembers and INDEX_COLUMN in extras
        with_features = remember and categories.needs_features
        outputs = model(**model_inputs, **({"output_features": True} if with_features else {}))
        per_sample = F.cross_entropy(outputs.logits.float(), labels, reduction="none")
        groups = extras.get(GROUP_COLUMN)
        if not model.training or groups is None:
            loss = per_sample.mean()
        else:
            step, index = self.state.global_step, extras.get(INDEX_COLUMN)
            self._finite_checks.add(step, per_sample, groups, index, categories.group_names)
            reduce = lambda t: self.accelerator.reduce(t, reduction="sum")  # noqa: E731
            loss = categories.objective(per_sample, groups, reduce, self.accelerator.num_processes)
        if remember:
            step = self.state.global_step + 1  # the step this batch completes
            categories.remember(extras[INDEX_COLUMN], per_sample, step, outputs.features if with_features else None)
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model: torch.nn.Module, inputs: dict[str, Any], *args: Any, **kwargs: Any):
        """Trainer's step, with each sample's domain (and attributes) beside its label, for per-domain and
        per-group metrics (``evaluation.DomainAccuracy``)."""
        extras = evaluation_columns(inputs, self.args.domain_column, self.args.attribute_columns)
        loss, logits, labels = super().prediction_step(model, inputs, *args, **kwargs)
        return loss, logits, (labels, *extras) if labels is not None and extras else labels

    # ---- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint_extras(self, folder: str) -> None:
        """This process's seed-category state (``AtomicCheckpoints`` renames the folder into place after)."""
        sampler = None if self._sampler is None else self._sampler.state_dict()
        self.seed_categories.save(folder, self.args.process_index, sampler)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self.restore_seed_categories(resume_from_checkpoint)

    def restore_seed_categories(self, checkpoint: str) -> None:
        """Load this process's copy of the seed-category state (checked against this run) into the sampler."""
        self.seed_categories.ensure_units(self.train_dataset)
        expected = {"num_replicas": self.args.world_size, "seed": self.args.seed, "scheme": SAMPLER_SCHEME}
        self.seed_categories.load(checkpoint, self.args.process_index, expected)
        self._install_groups()

    def create_model_card(self, **card_fields: Any) -> None:
        """Keep the card the run wrote (``hub.model_card``, with its results) when ``push_to_hub`` calls this;
        Trainer's generic card only where there is none."""
        if self.is_world_process_zero() and not os.path.exists(os.path.join(self.args.output_dir, "README.md")):
            super().create_model_card(**card_fields)

    # ---- logging ------------------------------------------------------------------------------

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add q, the mean per-group losses since the last log, and group sizes to training logs."""
        self._finite_checks.raise_if_any(self.seed_categories.group_names)
        if "loss" in logs:
            logs.update(self.seed_categories.metrics())
        super().log(logs, start_time)
