"""SeedCategories: the method's state and rules, with no Trainer in sight (Algorithm 1 of the paper).

It owns who is in which seed category (the units, the grouper, group ids and names), how much each weighs
(``GroupWeights``), and when the categories are recomputed (``RegroupSchedule``), plus the variants that
change one of those (``keep_q_on_regroup``, ``LossHistory``, ``regroup_start``, ``regroup_once_at``, a
labelled ``group_column``) and the loss memory of ``regroup_source="memory"``. ERM, GroupDRO and seedcat
are three configurations of it, chosen in one place: ``SeedCategories.from_config``.

``SeedCatTrainer`` adapts it to ``transformers.Trainer``: it feeds the batches, the scoring pass and the
process reductions in, and hands the groups to the sampler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .grouping import Grouper, GroupingInputs, create_grouper
from .grouping.units import make_units, split_units_by
from .indexed_dataset import check_training_dataset
from .memory import TrainingLossMemory
from .regroup_variants import LossHistory
from .schedule import RegroupSchedule
from .state import SeedCategoryState, check_process_copies_agree
from .weighting import GroupWeights

if TYPE_CHECKING:
    from .config import SeedCatConfig

logger = logging.getLogger(__name__)

#: Scores training samples with the current model: ``score(indices or None for all, with_features)``
#: returns float32 losses [N] (and features [N, D] or None), placed by sample index.
Scorer = Callable[[torch.Tensor | None, bool], tuple[torch.Tensor, torch.Tensor | None]]
#: Sums a tensor over processes (identity in one process).
Reduce = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class _Window:
    """The optimizer step being accumulated: its global group counts, its size k, the micro-batches left."""

    counts: torch.Tensor
    size: int
    remaining: int


class SeedCategories:
    """Seed categories of one run: groups, weights, schedule, and their checkpointable state."""

    def __init__(
        self,
        grouper: Grouper,
        *,
        name: str = "seedcat",
        grouping: str = "loss_rank",
        group_by: str = "domain",
        domain_column: str = "domain",
        weighted: bool = True,
        eta: float = 0.01,
        schedule: RegroupSchedule | None = None,
        keep_q_on_regroup: bool = False,
        regroup_loss_average: int = 1,
        group_column: str | None = None,
        regroup_source: str = "pass",
        memory_decay: float = 0.5,
        device: torch.device | str | None = None,
    ) -> None:
        """``weighted=False`` back-propagates the plain mean (ERM) but still measures every group's loss;
        ``name`` and ``grouping`` label the saved state, so a checkpoint is resumed only by the same method."""
        self.grouper = grouper
        self.name = name
        self.grouping = grouping
        self.group_by = group_by
        self.domain_column = domain_column
        self.weighted = weighted
        self.eta = eta
        self.schedule = schedule or RegroupSchedule(every=1000)
        self.keep_q_on_regroup = keep_q_on_regroup
        self.loss_history = LossHistory(regroup_loss_average)
        self.group_column = group_column
        self.regroup_source = regroup_source
        self.memory_decay = memory_decay
        self.device = device
        self._unit_grouper = create_grouper("unit")  # a warm-up's groups before its first grouping
        self.units: torch.Tensor | None = None
        self.unit_names: list[str] = []
        self.num_samples = 0
        self.dataset_fingerprint: str | None = None
        self.group_ids: torch.Tensor | None = None
        self.group_names: list[str] = []
        self.weights: GroupWeights | None = None
        self.last_regroup_step: int | None = None
        self.memory: TrainingLossMemory | None = None
        self.regroup_losses: torch.Tensor | None = None  # what the last regroup ranked, for the composition report
        self.rescored_at_last_regroup: int | None = None
        self.regroup_seconds = 0.0
        self._group_loss_sum: torch.Tensor | None = None
        self._group_loss_steps = 0
        self._window: _Window | None = None  # gradient accumulation: the optimizer step's group counts

    @classmethod
    def from_config(cls, config: SeedCatConfig, device: torch.device | str | None = None) -> SeedCategories:
        """The one place that reads ``algorithm``. GroupDRO and ERM use one group per domain, sampled equally
        like DomainBed's loaders; ERM does not weight them, nor does JTT, whose second stage is ERM on a
        training set that repeats its error set (``hf_seedcat.jtt``)."""
        if config.algorithm == "seedcat":
            grouper = create_grouper(config.grouping, groups_per_unit=config.groups_per_domain)
            grouping, group_by = config.grouping, config.group_by
        else:
            grouper, grouping, group_by = create_grouper("unit"), "unit", "domain"
        return cls(
            grouper,
            name=config.algorithm,
            grouping=grouping,
            group_by=group_by,
            domain_column=config.domain_column,
            weighted=config.algorithm not in ("erm", "jtt"),
            eta=config.dro_eta,
            schedule=RegroupSchedule(config.regroup_steps, config.regroup_start, config.regroup_once_at),
            keep_q_on_regroup=config.keep_q_on_regroup,
            regroup_loss_average=config.regroup_loss_average,
            group_column=config.group_column,
            regroup_source=config.regroup_source,
            memory_decay=config.memory_decay,
            device=device,
        )

    # ---- who: units and groups ------------------------------------------------------------------

    def ensure_units(self, dataset: Any) -> None:
        """Read every training sample's unit (its domain, class or pair; cut by ``group_column`` if set)."""
        if self.units is not None:
            return
        check_training_dataset(dataset, self.domain_column)
        names = [self.domain_column, "labels"]
        columns = {k: torch.as_tensor(v) for k, v in dataset.select_columns(names).with_format("numpy")[:].items()}
        feature = dataset.features.get(self.domain_column)
        domain_names = list(feature.names) if hasattr(feature, "names") else None
        self.units, self.unit_names = make_units(
            columns[self.domain_column], columns["labels"], self.group_by, domain_names
        )
        if self.group_column:  # the upper bound: known groups, domain x attribute value
            if self.group_column not in dataset.column_names:
                raise ValueError(
                    f"--group_column: the training dataset has no column {self.group_column!r}; "
                    f"its columns are {dataset.column_names}."
                )
            values = torch.as_tensor(
                dataset.select_columns([self.group_column]).with_format("numpy")[self.group_column]
            )
            self.units, self.unit_names = split_units_by(self.units, self.unit_names, values, self.group_column)
        self.num_samples = len(dataset)
        self.dataset_fingerprint = getattr(dataset, "_fingerprint", None)

    def grouper_at(self, step: int) -> Grouper:
        first = self.schedule.first_grouping_step
        return self._unit_grouper if first is not None and step < first else self.grouper

    @property
    def needs_features(self) -> bool:
        return "features" in self.grouper.requires

    @property
    def remembers(self) -> bool:
        """Whether training steps must record per-sample values (a dynamic grouping read from memory)."""
        return self.regroup_source == "memory" and not self.grouper.static

    @property
    def group_sizes(self) -> list[int]:
        return torch.bincount(self.group_ids, minlength=len(self.group_names)).tolist()

    # ---- when: regrouping -----------------------------------------------------------------------

    def due(self, step: int, max_steps: int) -> bool:
        return self.schedule.due(step, max_steps)

    def changes_at(self, step: int) -> bool:
        """Whether a regroup at ``step`` would recompute the groups (and restart q); static groups never do."""
        return not (self.grouper_at(step).static and self.group_ids is not None)

    def regroup(self, step: int, score: Scorer, gather: Reduce | None = None, num_processes: int = 1) -> bool:
        """Recompute the seed categories and restart ``q``; False when the groups cannot change.

        ``q`` restarts at uniform at every redistribution, as in the paper (q is "initialized to all one"
        between two redistributions): a group id now names a different set of samples, so the weight it
        had earned no longer describes it (``keep_q_on_regroup`` keeps it instead). Static groupings
        (GroupDRO's domains) are computed once and keep their ``q``, which is exactly GroupDRO. A warm-up
        or one-shot schedule samples the domains equally, with the plain mean loss, until its first grouping.
        """
        if self.units is None:
            raise RuntimeError("SeedCategories.regroup needs the units first: call ensure_units(train_dataset).")
        if not self.changes_at(step):
            return False
        grouper = self.grouper_at(step)
        start = time.perf_counter()
        losses, features = None, None
        if grouper.requires and self.remembers:
            losses, features = self._values_from_memory(step, score, gather, num_processes)
        elif grouper.requires:  # GroupDRO's and ERM's domains need no pass over the data
            losses, features = score(None, self.needs_features)
        if losses is not None:
            losses = self.loss_history.push(losses)  # the paper's window of 1 returns them unchanged
        self.regroup_losses = losses
        inputs = GroupingInputs(units=self.units, num_units=len(self.unit_names), losses=losses, features=features)
        self.group_ids = grouper(inputs)
        k = grouper.groups_per_unit
        self.group_names = [f"{unit}:{j}" if k > 1 else unit for unit in self.unit_names for j in range(k)]
        if self.weights is None or self.weights.num_groups != len(self.group_names):
            self.weights = GroupWeights(len(self.group_names), self.eta, device=self.device)
        elif not self.keep_q_on_regroup:
            self.weights.reset(len(self.group_names))
        self._group_loss_sum = None
        self._group_loss_steps = 0
        self.last_regroup_step = step
        self.regroup_seconds += time.perf_counter() - start
        logger.info("Regrouped at step %d: %s", step, dict(zip(self.group_names, self.group_sizes, strict=True)))
        return True

    def _values_from_memory(
        self, step: int, score: Scorer, gather: Reduce | None, num_processes: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Remembered training values; the samples unseen since the last regroup are scored now."""
        memory = self._ensure_memory()
        memory.synchronize(gather or (lambda t: t), num_processes)
        stale = (~memory.seen_after(self.last_regroup_step)).nonzero().squeeze(1)
        if len(stale):
            losses, features = score(stale, self.needs_features)
            memory.record(stale, losses[stale], step, None if features is None else features[stale], replace=True)
        self.rescored_at_last_regroup = len(stale)
        logger.info(
            "Regroup at step %d from memory: %d of %d samples scored afresh.", step, len(stale), len(memory.losses)
        )
        return memory.losses.clone(), None if memory.features is None else memory.features.clone()

    def _ensure_memory(self) -> TrainingLossMemory:
        if self.memory is None:
            self.memory = TrainingLossMemory(len(self.units), self.memory_decay)
        return self.memory

    def remember(self, index: torch.Tensor, per_sample: torch.Tensor, step: int, features: Any = None) -> None:
        """Keep a training batch's per-sample losses (and features) for a memory regroup."""
        self._ensure_memory().record(index, per_sample, step, features)

    # ---- how much: the objective ----------------------------------------------------------------

    def objective(
        self, per_sample: torch.Tensor, groups: torch.Tensor, reduce: Reduce | None = None, num_processes: int = 1
    ) -> torch.Tensor:
        """Mean loss per group (over all processes) -> update q -> ``sum_g q_g * loss_g``.

        ERM and a warm-up before the first grouping back-propagate the plain mean; the group losses are
        measured either way, for the logs.
        """
        if self._window is not None:
            return self._window_objective(per_sample, groups, num_processes)
        reduce = reduce or (lambda t: t)
        num_groups = self.weights.num_groups
        sums = torch.zeros(num_groups, device=per_sample.device).index_add(0, groups, per_sample)
        # Counted by index_add, not bincount: bincount on CUDA reads the maximum back to the host.
        counts = torch.zeros(num_groups, device=per_sample.device).index_add(0, groups, torch.ones_like(per_sample))
        # Every process must see the same group losses, or their q drift apart: reduce sums and counts.
        global_counts = reduce(counts).clamp(min=1)
        group_losses = reduce(sums.detach()) / global_counts
        self._record_group_losses(group_losses)
        if not self.weighted or self.schedule.warming_up(self.last_regroup_step):
            return per_sample.mean()
        self.weights.update(group_losses)
        # This process's share of sum_g q_g * mean_g; DDP averages gradients over processes, hence the
        # factor num_processes, which makes the gradient that of the global per-group means.
        return self.weights.weighted_loss(sums / global_counts * num_processes)

    def open_window(self, losses: list[tuple[torch.Tensor, torch.Tensor]], reduce: Reduce | None = None) -> None:
        """Gradient accumulation: move q once for the k micro-batches of one optimizer step.

        ``losses``: every micro-batch's (per-sample losses, group ids), from a forward without gradients. q
        moves once, from the group means over all k micro-batches (and all processes); the next k
        ``objective`` calls then return each micro-batch's share of ``sum_g q_g * mean_g`` at that q, so the
        accumulated gradient is that of one batch k times larger.
        """
        reduce = reduce or (lambda t: t)
        device = losses[0][0].device
        sums = torch.zeros(self.weights.num_groups, device=device)
        counts = torch.zeros(self.weights.num_groups, device=device)
        for per_sample, groups in losses:
            sums.index_add_(0, groups, per_sample.detach().float())
            counts.index_add_(0, groups, torch.ones_like(per_sample, dtype=torch.float32))
        counts = reduce(counts).clamp(min=1)
        group_losses = reduce(sums) / counts
        self._record_group_losses(group_losses)
        if self.weighted and not self.schedule.warming_up(self.last_regroup_step):
            self.weights.update(group_losses)
        self._window = _Window(counts=counts, size=len(losses), remaining=len(losses))

    def _window_objective(self, per_sample: torch.Tensor, groups: torch.Tensor, num_processes: int) -> torch.Tensor:
        """One micro-batch's share, scaled by k and the process count: the Trainer divides each micro-batch's
        loss by k, and DDP averages gradients over processes."""
        window = self._window
        window.remaining -= 1
        if window.remaining == 0:
            self._window = None
        if not self.weighted or self.schedule.warming_up(self.last_regroup_step):
            return per_sample.mean()  # equal micro-batches: the mean of their means is the window's mean
        sums = torch.zeros(len(window.counts), device=per_sample.device).index_add(0, groups, per_sample)
        return self.weights.weighted_loss(sums / window.counts * (num_processes * window.size))

    def _record_group_losses(self, group_losses: torch.Tensor) -> None:
        # Summed where they are (on the device); read back only when logging.
        values = group_losses.detach().float()
        self._group_loss_sum = values if self._group_loss_sum is None else self._group_loss_sum + values
        self._group_loss_steps += 1

    def metrics(self) -> dict[str, float]:
        """q, the mean per-group losses since the last call, and group sizes, for ``Trainer.log``."""
        if self.weights is None or self.group_ids is None:
            return {}
        logs: dict[str, float] = {}
        sizes = self.group_sizes
        q = self.weights.q.tolist()  # one read-back per log, not one per group
        group_loss = None if self._group_loss_sum is None else self._group_loss_sum.tolist()
        for g, name in enumerate(self.group_names):
            if self.weighted:
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
        return logs

    # ---- checkpoints ----------------------------------------------------------------------------

    def state(self, sampler: dict[str, Any] | None = None) -> SeedCategoryState:
        """Everything needed to continue exactly: groups, q, the last regroup, the sampler's seed."""
        return SeedCategoryState(
            algorithm=self.name,
            grouping=self.grouping,
            group_by=self.group_by,
            groups_per_unit=self.grouper.groups_per_unit,
            unit_names=list(self.unit_names),
            group_names=list(self.group_names),
            group_ids=[] if self.group_ids is None else self.group_ids.tolist(),
            q=[] if self.weights is None else self.weights.q.tolist(),
            eta=self.eta,
            last_regroup_step=self.last_regroup_step,
            sampler=sampler or {},
            num_samples=self.num_samples,
            dataset_fingerprint=self.dataset_fingerprint,
        )

    def save(self, folder: str, process_index: int, sampler: dict[str, Any] | None = None) -> None:
        """Write this process's state, loss memory and loss history into a checkpoint folder."""
        self.state(sampler).save(folder, process_index)
        if self.memory is not None:
            self.memory.save(folder, process_index)
        self.loss_history.save(folder, process_index)

    def load(self, folder: str, process_index: int, sampler: dict[str, Any] | None = None) -> None:
        """Restore this process's copy, after checking it fits this run (data, method, ``eta`` and, when
        given, the sampler this run will use: processes, seed, scheme) and that all copies agree."""
        check_process_copies_agree(folder)
        saved = SeedCategoryState.load(folder, process_index)
        saved.check_compatible(self.state(sampler), folder)
        self.group_ids = torch.tensor(saved.group_ids, dtype=torch.long)
        self.group_names = saved.group_names
        self.weights = GroupWeights(len(saved.group_names), saved.eta, device=self.device)
        self.weights.load_state_dict({"q": saved.q, "eta": saved.eta})
        self.last_regroup_step = saved.last_regroup_step
        if self.remembers:
            self._ensure_memory().load(folder, process_index)
        self.loss_history.load(folder, process_index)
