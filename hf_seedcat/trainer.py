"""SeedCatTrainer: a ``transformers.Trainer`` that trains on seed categories (Algorithm 1 of the paper).

It ties the pieces together: units and groups (``grouping``), a batch from every group
(``sampling``), the weights ``q`` (``weighting``) and the periodic regroup pass (``regroup``).
ERM and GroupDRO run through the same path, with the domains as their groups.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from .analysis.composition import GroupCompositionCallback
from .config import SeedCatConfig
from .data_scripts import KNOWN_ATTRIBUTE_COLUMNS
from .grouping import GroupingInputs, create_grouper
from .grouping.units import make_units, split_units_by
from .hub import model_card
from .indexed_dataset import IndexedDataset
from .memory import TrainingLossMemory
from .regroup import GROUP_COLUMN, INDEX_COLUMN, RegroupCallback, accepts_output_features, score_samples
from .regroup_variants import LossHistory, before_one_shot, first_grouping_step
from .sampling import GroupBalancedBatchSampler
from .state import SeedCategoryState, check_process_copies_agree
from .tensor_rows import TensorRowsCache
from .weighting import GroupWeights

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite; the message names the step, groups and samples."""


class SeedCatTrainer(Trainer):
    """Trains with seed categories (``algorithm="seedcat"``), GroupDRO or ERM, chosen by ``SeedCatConfig``.

    The training dataset must be a ``datasets.Dataset`` with the domain column named by
    ``args.domain_column`` and integer ``labels``; the model must return ``.logits``. The domain column
    is kept for ``compute_loss`` without ``remove_unused_columns=False``.
    """

    args: SeedCatConfig

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
        config = self.args
        if scoring_dataset is not None and self.train_dataset is not None:
            if len(scoring_dataset) != len(self.train_dataset):
                raise ValueError(
                    f"scoring_dataset has {len(scoring_dataset)} rows but train_dataset {len(self.train_dataset)}: "
                    "it must hold the same samples in the same order."
                )
        self.scoring_dataset = scoring_dataset
        if config.algorithm == "seedcat":
            self.grouper = create_grouper(config.grouping, groups_per_unit=config.groups_per_domain)
            self.group_by = config.group_by
        else:  # GroupDRO and ERM: one group per domain, sampled equally, like DomainBed's loaders.
            self.grouper = create_grouper("unit")
            self.group_by = "domain"
        self.units: torch.Tensor | None = None
        self.unit_names: list[str] = []
        self.group_ids: torch.Tensor | None = None
        self.group_names: list[str] = []
        self.last_regroup_step: int | None = None
        self.weights: GroupWeights | None = None
        self._sampler: GroupBalancedBatchSampler | None = None
        self._group_loss_sum: torch.Tensor | None = None
        self._group_loss_steps = 0
        self._checkpoint_root: str | None = None
        # regroup_source=memory: per-sample training losses (and features), read at regroup time.
        self.memory: TrainingLossMemory | None = None
        self.rescored_at_last_regroup: int | None = None
        self.regroup_seconds = 0.0  # wall time spent regrouping in this process, logged as regroup_seconds
        self._tensor_rows = TensorRowsCache()  # in-memory datasets read as tensors (tensor_rows.py)
        # Non-finite checks of accelerator steps wait for the next log, so a step never waits for the device.
        self._pending_finite_checks: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        # The per-sample losses the last regroup ranked (after any averaging), for the composition report.
        self.regroup_losses: torch.Tensor | None = None
        self.loss_history = LossHistory(config.regroup_loss_average)
        self._unit_grouper = create_grouper("unit")  # a one-shot run's groups before its single grouping
        self._check_attribute_columns()
        self.add_callback(RegroupCallback(self))
        # After RegroupCallback, so it sees each regroup's new groups; it does nothing without attribute columns.
        self.add_callback(GroupCompositionCallback(self))

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

    def _check_training_dataset(self) -> None:
        dataset = self.train_dataset
        columns = getattr(dataset, "column_names", None)
        if columns is None:
            raise TypeError("SeedCatTrainer needs a datasets.Dataset (with a domain column) as train_dataset.")
        for column in (self.args.domain_column, "labels"):
            if column not in columns:
                raise ValueError(
                    f"The training dataset has no {column!r} column (columns: {columns}); "
                    + (
                        "set --domain_column to the column that names each sample's domain."
                        if column == self.args.domain_column
                        else "name the class column 'labels'."
                    )
                )
        if len(dataset) == 0:
            raise ValueError("The training dataset is empty.")

    def get_train_dataloader(self) -> DataLoader:
        """A loader whose every batch holds ``batch_size // num_groups`` samples from each current group.

        It is not wrapped by Accelerate: the sampler shards by process itself, and a plain loader with
        no workers fetches each batch only when the step needs it, so a batch drawn after a regroup
        always uses the new groups (Accelerate's loader reads one batch ahead).
        """
        self._check_training_dataset()
        dataset = IndexedDataset(
            self._tensor_rows(self._remove_unused_columns(self.train_dataset, description="training"))
        )
        self._sampler = GroupBalancedBatchSampler(
            len(dataset),
            self._train_batch_size,
            seed=self.args.seed,
            num_replicas=self.args.world_size,
            rank=self.args.process_index,
        )
        self._install_groups()
        return _EpochAwareDataLoader(
            dataset,
            batch_sampler=self._sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
            persistent_workers=self.args.dataloader_persistent_workers and self.args.dataloader_num_workers > 0,
        )

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
        if self._sampler is not None and self.group_ids is not None:
            self._sampler.set_groups(self.group_ids, len(self.group_names), self.group_names)

    def _scoring_dataloader(self, indices: torch.Tensor | None = None) -> DataLoader:
        """The training set (or the samples ``indices``), in order, without group sampling: what a regroup scores."""
        rows = self.scoring_dataset if self.scoring_dataset is not None else self.train_dataset
        dataset = IndexedDataset(self._tensor_rows(self._remove_unused_columns(rows, description="regroup")))
        if indices is not None:
            dataset = Subset(dataset, indices.tolist())
        loader = DataLoader(
            dataset,
            batch_size=self.args.eval_batch_size,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
        )
        return self.accelerator.prepare(loader)

    def _split_batch(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor, dict[str, Any]]:
        """Separate model inputs from labels and the columns the model must not see: the domain, our ids,
        and every attribute column (named or built in), which are ground truth for evaluation only."""
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        hidden = (self.args.domain_column, INDEX_COLUMN, GROUP_COLUMN, *self._attribute_names)
        extras = {key: inputs.pop(key) for key in hidden if key in inputs}
        return inputs, labels, extras

    @property
    def _attribute_names(self) -> tuple[str, ...]:
        named = (*(self.args.attribute_columns or []), *([self.args.group_column] if self.args.group_column else []))
        return tuple(dict.fromkeys((*named, *KNOWN_ATTRIBUTE_COLUMNS)))

    def _check_attribute_columns(self) -> None:
        """A named attribute (or group) column must exist in every dataset that will be read for it."""
        named = list(self.args.attribute_columns or [])
        datasets_to_check = {"training": self.train_dataset}
        if isinstance(self.eval_dataset, dict):
            datasets_to_check.update({f"evaluation ({k})": v for k, v in self.eval_dataset.items()})
        elif self.eval_dataset is not None:
            datasets_to_check["evaluation"] = self.eval_dataset
        for label, dataset in datasets_to_check.items():
            columns = getattr(dataset, "column_names", None)
            wanted = named + ([self.args.group_column] if self.args.group_column and label == "training" else [])
            if columns is None or not wanted:
                continue
            missing = [c for c in wanted if c not in columns]
            if missing:
                flag = "--group_column" if missing == [self.args.group_column] else "--attribute_columns"
                raise ValueError(
                    f"{flag}: the {label} dataset has no column {', '.join(map(repr, missing))}; "
                    f"its columns are {columns}."
                )

    # ---- seed categories ----------------------------------------------------------------------

    def _ensure_units(self) -> None:
        if self.units is not None:
            return
        self._check_training_dataset()
        names = [self.args.domain_column, "labels"]
        columns = {
            k: torch.as_tensor(v) for k, v in self.train_dataset.select_columns(names).with_format("numpy")[:].items()
        }
        feature = self.train_dataset.features.get(self.args.domain_column)
        domain_names = list(feature.names) if hasattr(feature, "names") else None
        self.units, self.unit_names = make_units(
            columns[self.args.domain_column], columns["labels"], self.group_by, domain_names
        )
        if self.args.group_column:  # the upper bound: known groups, domain x attribute value
            column = self.args.group_column
            values = torch.as_tensor(self.train_dataset.select_columns([column]).with_format("numpy")[column])
            self.units, self.unit_names = split_units_by(self.units, self.unit_names, values, column)

    def regroup(self, step: int) -> None:
        """Recompute the seed categories from the current model and restart ``q``.

        ``q`` restarts at uniform at every redistribution, as in the paper (q is "initialized to all
        one" between two redistributions): a group id now names a different set of samples, so the
        weight it had earned no longer describes it (``keep_q_on_regroup`` keeps it instead). Static
        groupings (GroupDRO's domains) are computed once and keep their ``q``, which is exactly GroupDRO.
        A one-shot or warm-up run (``regroup_once_at``, ``regroup_start``) samples the domains equally, with
        the plain mean loss, until its first grouping.
        """
        self._ensure_units()
        first = first_grouping_step(self.args)  # one-shot or warm-up: the domains until then
        grouper = self._unit_grouper if first is not None and step < first else self.grouper
        if grouper.static and self.group_ids is not None:
            return
        start = time.perf_counter()
        model = self.model_wrapped if self.model_wrapped is not None else self.model
        with_features = "features" in self.grouper.requires
        if with_features and not accepts_output_features(model):
            raise ValueError(
                f"grouping={self.args.grouping!r} clusters penultimate features, but "
                f"{type(self.model).__name__}.forward has no output_features argument."
            )
        losses, features = None, None
        if grouper.requires and self._remembers:
            losses, features = self._values_from_memory(model, step, with_features)
        elif grouper.requires:  # GroupDRO's and ERM's domains need no pass over the data
            losses, features = self._score(model, with_features)
        if losses is not None:
            losses = self.loss_history.push(losses)  # the paper's window of 1 returns them unchanged
        self.regroup_losses = losses
        inputs = GroupingInputs(units=self.units, num_units=len(self.unit_names), losses=losses, features=features)
        self.group_ids = grouper(inputs)
        k = grouper.groups_per_unit
        self.group_names = [f"{unit}:{j}" if k > 1 else unit for unit in self.unit_names for j in range(k)]
        self._install_groups()
        if self.weights is None or self.weights.num_groups != len(self.group_names):
            self.weights = GroupWeights(len(self.group_names), self.args.dro_eta, device=self.args.device)
        elif not self.args.keep_q_on_regroup:
            self.weights.reset(len(self.group_names))
        self._group_loss_sum = None
        self._group_loss_steps = 0
        self.last_regroup_step = step
        self.regroup_seconds += time.perf_counter() - start
        sizes = torch.bincount(self.group_ids, minlength=len(self.group_names)).tolist()
        logger.info("Regrouped at step %d: %s", step, dict(zip(self.group_names, sizes, strict=True)))

    def _score(
        self, model: torch.nn.Module, with_features: bool, indices: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The regroup pass: every training sample (or those in ``indices``) scored by the current model."""
        return score_samples(
            model,
            self._scoring_batches(indices),
            len(self.units),
            self.accelerator.gather_for_metrics,
            self._split_batch,
            with_features=with_features,
            expected=indices,
        )

    def _values_from_memory(
        self, model: torch.nn.Module, step: int, with_features: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Remembered training values; the samples unseen since the last regroup are scored now."""
        memory = self._ensure_memory()
        memory.synchronize(self.accelerator.gather, self.accelerator.num_processes)
        stale = (~memory.seen_after(self.last_regroup_step)).nonzero().squeeze(1)
        if len(stale):
            losses, features = self._score(model, with_features, stale)
            memory.record(stale, losses[stale], step, None if features is None else features[stale], replace=True)
        self.rescored_at_last_regroup = len(stale)
        logger.info(
            "Regroup at step %d from memory: %d of %d samples scored afresh.", step, len(stale), len(memory.losses)
        )
        return memory.losses.clone(), None if memory.features is None else memory.features.clone()

    def _ensure_memory(self) -> TrainingLossMemory:
        if self.memory is None:
            self._ensure_units()
            self.memory = TrainingLossMemory(len(self.units), self.args.memory_decay)
        return self.memory

    @property
    def _remembers(self) -> bool:
        """Whether training steps must record per-sample values (a dynamic grouping read from memory)."""
        return self.args.regroup_source == "memory" and not self.grouper.static

    def _scoring_batches(self, indices: torch.Tensor | None = None):
        # The run's mixed precision (bf16 halves the pass on CPUs with AVX512-BF16); losses stay float32.
        with self.accelerator.autocast():
            yield from self._scoring_dataloader(indices)

    @property
    def group_sizes(self) -> list[int]:
        return torch.bincount(self.group_ids, minlength=len(self.group_names)).tolist()

    # ---- the objective ------------------------------------------------------------------------

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        """Per-sample loss -> mean per group -> update q -> sum_g q_g * loss_g (plain mean for ERM).

        Evaluation (the model in eval mode, or a batch without group ids) uses the plain mean.
        """
        model_inputs, labels, extras = self._split_batch(inputs)
        remember = model.training and self._remembers and INDEX_COLUMN in extras
        with_features = remember and "features" in self.grouper.requires
        outputs = model(**model_inputs, **({"output_features": True} if with_features else {}))
        per_sample = F.cross_entropy(outputs.logits.float(), labels, reduction="none")
        groups = extras.get(GROUP_COLUMN)
        if not model.training or groups is None:
            loss = per_sample.mean()
        else:
            self._check_finite(per_sample, groups, extras.get(INDEX_COLUMN))
            loss = self._group_objective(per_sample, groups)
        if remember:
            features = outputs.features if with_features else None
            step = self.state.global_step + 1  # the step this batch completes
            self._ensure_memory().record(extras[INDEX_COLUMN], per_sample, step, features)
        return (loss, outputs) if return_outputs else loss

    def prediction_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ):
        """Trainer's step, with each sample's domain (and, with ``attribute_columns``, its attributes as one
        int64 [batch, A] tensor) returned beside its label, for per-domain and per-group metrics."""
        domains = inputs.get(self.args.domain_column)
        named = self.args.attribute_columns or []
        attributes = torch.stack([inputs[c].long() for c in named], dim=1) if named and named[0] in inputs else None
        loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        if labels is not None and (domains is not None or attributes is not None):
            labels = (labels, *(t for t in (domains, attributes) if t is not None))
        return loss, logits, labels

    def _group_objective(self, per_sample: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        num_groups = self.weights.num_groups
        sums = torch.zeros(num_groups, device=per_sample.device).index_add(0, groups, per_sample)
        # Counted by index_add, not bincount: bincount on CUDA reads the maximum back to the host.
        counts = torch.zeros(num_groups, device=per_sample.device).index_add(0, groups, torch.ones_like(per_sample))
        # Every process must see the same group losses, or their q drift apart: reduce sums and counts.
        global_sums = self.accelerator.reduce(sums.detach(), reduction="sum")
        global_counts = self.accelerator.reduce(counts, reduction="sum")
        group_losses = global_sums / global_counts.clamp(min=1)
        self._record_group_losses(group_losses)

        if self.args.algorithm == "erm" or before_one_shot(self.args, self.last_regroup_step):
            return per_sample.mean()
        self.weights.update(group_losses)
        # This process's share of sum_g q_g * mean_g; DDP averages gradients over processes, hence the
        # factor num_processes, which makes the gradient that of the global per-group means.
        local_group_means = sums / global_counts.clamp(min=1) * self.accelerator.num_processes
        return self.weights.weighted_loss(local_group_means)

    def _check_finite(self, per_sample: torch.Tensor, groups: torch.Tensor, index: torch.Tensor | None) -> None:
        """Fail on a NaN or infinite per-sample loss, naming the step, groups and samples.

        On the CPU at once; on an accelerator at the next log (at most ``logging_steps`` later), since
        asking whether any loss is bad would make every step wait for the device.
        """
        bad = ~torch.isfinite(per_sample.detach())
        self._pending_finite_checks.append((self.state.global_step, bad, groups, index))
        if per_sample.device.type == "cpu":
            self._raise_if_nonfinite()

    def _raise_if_nonfinite(self) -> None:
        pending, self._pending_finite_checks = self._pending_finite_checks, []
        if not pending:
            return
        if not bool(torch.stack([bad.any() for _, bad, _, _ in pending]).any()):  # one sync for all steps
            return
        step, bad, groups, index = next(check for check in pending if bool(check[1].any()))
        names = sorted({self.group_names[g] for g in groups[bad].tolist()})
        ids = index[bad].tolist() if index is not None else "unknown"
        raise NonFiniteLossError(
            f"Non-finite training loss at step {step}: groups {names}, "
            f"sample ids {ids}. Lower the learning rate or check these samples."
        )

    # ---- checkpoints ----------------------------------------------------------------------------

    def seed_category_state(self) -> SeedCategoryState:
        """Everything needed to continue exactly: groups, q, the last regroup, the sampler's seed."""
        return SeedCategoryState(
            algorithm=self.args.algorithm,
            grouping=self.args.grouping if self.args.algorithm == "seedcat" else "unit",
            group_by=self.group_by,
            groups_per_unit=self.grouper.groups_per_unit,
            unit_names=list(self.unit_names),
            group_names=list(self.group_names),
            group_ids=[] if self.group_ids is None else self.group_ids.tolist(),
            q=[] if self.weights is None else self.weights.q.tolist(),
            eta=self.args.dro_eta,
            last_regroup_step=self.last_regroup_step,
            sampler={} if self._sampler is None else self._sampler.state_dict(),
            num_samples=len(self.train_dataset),
            dataset_fingerprint=getattr(self.train_dataset, "_fingerprint", None),
        )

    def _get_output_dir(self, trial: Any) -> str:
        return self._checkpoint_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        """Save into a staging folder, add every process's seed-category state, then rename into place.

        A run killed mid-save leaves no ``checkpoint-N`` folder at all, never a partial one.
        """
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        self._checkpoint_root = os.path.join(run_dir, ".staging")
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._checkpoint_root = None
        staged = os.path.join(run_dir, ".staging", name)
        self.seed_category_state().save(staged, self.args.process_index)
        if self.memory is not None:
            self.memory.save(staged, self.args.process_index)
        self.loss_history.save(staged, self.args.process_index)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(staged, final)
            if not os.listdir(os.path.join(run_dir, ".staging")):
                os.rmdir(os.path.join(run_dir, ".staging"))
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )
        self.accelerator.wait_for_everyone()

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self.restore_seed_categories(resume_from_checkpoint)

    def restore_seed_categories(self, checkpoint: str) -> None:
        """Load this process's copy of the state, after checking it fits this run and all copies agree."""
        check_process_copies_agree(checkpoint)
        saved = SeedCategoryState.load(checkpoint, self.args.process_index)
        self._ensure_units()
        saved.check_compatible(self.seed_category_state(), checkpoint)
        self.group_ids = torch.tensor(saved.group_ids, dtype=torch.long)
        self.group_names = saved.group_names
        self.weights = GroupWeights(len(saved.group_names), saved.eta, device=self.args.device)
        self.weights.load_state_dict({"q": saved.q, "eta": saved.eta})
        self.last_regroup_step = saved.last_regroup_step
        if self._remembers:
            self._ensure_memory().load(checkpoint, self.args.process_index)
        self.loss_history.load(checkpoint, self.args.process_index)
        self._install_groups()

    # ---- model card ---------------------------------------------------------------------------

    def create_model_card(self, **card_fields: Any) -> None:
        """Write hf_seedcat's card (``hub.model_card``) as the output folder's README.md.

        ``Trainer.push_to_hub`` calls this with its keyword arguments; without the run's results (a bare
        call) an existing card is kept rather than replaced by one that knows less.
        """
        if not self.is_world_process_zero():
            return
        path = os.path.join(self.args.output_dir, "README.md")
        if "results_table" not in card_fields:
            if not os.path.exists(path):
                super().create_model_card()
            return
        card_fields.pop("model_name", None)  # push_to_hub's; the card names the model by its repository
        model_card(self.args, self.accelerator.unwrap_model(self.model), **card_fields).save(path)

    # ---- logging ------------------------------------------------------------------------------

    def _record_group_losses(self, group_losses: torch.Tensor) -> None:
        # Summed where they are (on the device); read back only when logging.
        values = group_losses.detach().float()
        self._group_loss_sum = values if self._group_loss_sum is None else self._group_loss_sum + values
        self._group_loss_steps += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add q, the mean per-group losses since the last log, and group sizes to training logs."""
        self._raise_if_nonfinite()
        if "loss" in logs and self.weights is not None and self.group_ids is not None:
            sizes = self.group_sizes
            q = self.weights.q.tolist()  # one read-back per log, not one per group
            group_loss = None if self._group_loss_sum is None else self._group_loss_sum.tolist()
            for g, name in enumerate(self.group_names):
                if self.args.algorithm != "erm":
                    logs[f"q/{name}"] = round(q[g], 6)
                if group_loss is not None:
                    logs[f"group_loss/{name}"] = round(group_loss[g] / self._group_loss_steps, 6)
                logs[f"group_size/{name}"] = sizes[g]
            self._group_loss_sum = None
            self._group_loss_steps = 0
            if not self.grouper.static:
                logs["regroup_seconds"] = round(self.regroup_seconds, 3)
            if self.rescored_at_last_regroup is not None:
                logs["regroup_rescored"] = self.rescored_at_last_regroup
        super().log(logs, start_time)


class _EpochAwareDataLoader(DataLoader):
    """Forwards the Trainer's ``set_epoch`` to the group-balanced sampler."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)


def check_writable(folder: str) -> None:
    """Fail now, naming the folder, rather than at the first checkpoint hours later."""
    probe = os.path.join(folder, f".seedcat_write_probe_{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise OSError(
            f"The output directory {folder!r} cannot be written ({error}); choose another --output_dir."
        ) from error
