"""SeedCatConfig: the method's knobs as ``TrainingArguments`` fields, so every one is a flag."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

from .grouping import GROUPERS

ALGORITHMS = ("seedcat", "groupdro", "erm", "jtt")
GROUP_BY = ("domain", "class", "domain_class")
REGROUP_SOURCES = ("pass", "memory")


@dataclass
class SeedCatConfig(TrainingArguments):
    r"""Arguments for :class:`SeedCatTrainer`: ``TrainingArguments`` plus seed-category training.

    Parameters that choose the algorithm:
        algorithm: ``seedcat`` (the paper's Algorithm 1), ``groupdro`` (the same update over domains)
            or ``erm`` (plain mean loss over domain-balanced batches); ``jtt`` trains like ERM, on a training
            set whose stage-1 error set is repeated (Just Train Twice's second stage: ``seedcat-train`` runs
            both stages, ``hf_seedcat.jtt`` builds the set for a Trainer of your own).
        domain_column: the dataset column holding each sample's domain.
        jtt_stage1_steps, jtt_upweight: JTT's T (the ERM steps whose model defines the error set; default a
            fifth of ``max_steps``) and lambda (how many times each error-set row appears in stage 2).

    Parameters that define seed categories (``seedcat`` only):
        group_by: the unit split into seed categories: ``domain`` (the paper), ``class`` or
            ``domain_class``.
        grouping: the grouper's registry name (``loss_rank``: loss quantiles, the paper's best).
        groups_per_domain: seed categories per unit, K (4 in the paper).
        regroup_steps: t0, steps between redistributions (1000 in the paper); regrouping also runs at step 0.

    Parameters of the weighting:
        dro_eta: eta in ``q_g <- q_g * exp(eta * loss_g)`` (0.01, from GroupDRO and the paper).

    Variants of the regroup (issue 12; the paper's behaviour is the default of each). None reads the
    test environment or an attribute column:
        keep_q_on_regroup: keep ``q`` across regroups instead of restarting it at uniform.
        regroup_loss_average: regroup on each sample's loss averaged over the last N scoring passes.
        regroup_once_at: one-shot seed categories, found once at step T and kept (with ``q``) after it.
        regroup_start: ERM warm-up to step T, then the paper's regroups at T, T + t0, ...

    The scoring pass:
        scoring_batch_size: its batch per device (default: the evaluation batch size), so that raising the
            evaluation batch for speed does not raise the regroup pass's peak memory.

    Ground truth that never trains:
        attribute_columns: columns that, with the label, define *evaluation* groups (per-group,
            worst-group and mean-over-groups accuracy); they never reach the model, grouping or sampler.
        group_column: GroupDRO/ERM on domain x this column's values: an upper bound that reads the
            attributes (e.g. ``color_agrees``), labelled as such; not a method.

    The batch: ``per_device_train_batch_size`` is the *total* batch of one process for one step. It is
    divided equally among the groups in play (seed categories for ``seedcat``, domains otherwise), as
    the paper keeps the total fixed; with G groups each gets ``per_device_train_batch_size // G``
    samples, so pick a multiple of G to use the whole batch. With N processes the global batch is N
    times that. Other defaults are those of ``TrainingArguments``; ``protocol.DomainBedConfig`` (what
    ``seedcat-train`` parses) switches to DomainBed's protocol (constant learning rate, no gradient clipping).
    """

    algorithm: str = field(
        default="seedcat",
        metadata={"help": "Training algorithm.", "choices": list(ALGORITHMS)},
    )
    jtt_stage1_steps: int | None = field(
        default=None,
        metadata={
            "help": "JTT: T, the ERM steps of stage 1, whose final model's training errors are the error set; "
            "default: max_steps // 5. Must be below max_steps."
        },
    )
    jtt_upweight: int = field(
        default=6,
        metadata={
            "help": "JTT: lambda, how many times each error-set row appears in stage 2's training set (JTT's "
            "upsampling; 6 is its MultiNLI/CivilComments value, 50-100 its Waterbirds/CelebA values)."
        },
    )
    domain_column: str = field(
        default="domain",
        metadata={"help": "Name of the dataset column that holds each sample's domain."},
    )
    group_by: str = field(
        default="domain",
        metadata={
            "help": "The unit split into seed categories: each domain, class, or domain-class pair.",
            "choices": list(GROUP_BY),
        },
    )
    grouping: str = field(
        default="loss_rank",
        metadata={"help": "How seed categories are found, by registry name (see hf_seedcat.grouping)."},
    )
    groups_per_domain: int = field(
        default=4,
        metadata={"help": "Number of seed categories each unit (domain, class, ...) is split into (K)."},
    )
    regroup_steps: int = field(
        default=1000,
        metadata={"help": "Recompute seed categories every this many optimizer steps (t0); also at step 0."},
    )
    dro_eta: float = field(
        default=0.01,
        metadata={"help": "Step size eta of the group-weight update q_g <- q_g * exp(eta * loss_g)."},
    )
    regroup_source: str = field(
        default="pass",
        metadata={
            "help": "Where a regroup reads per-sample losses (and features): 'pass' scores the whole training "
            "set with the current model (the paper); 'memory' uses a moving average of the values training "
            "steps computed since the last regroup and scores only the samples not seen since.",
            "choices": list(REGROUP_SOURCES),
        },
    )
    memory_decay: float = field(
        default=0.5,
        metadata={"help": "With regroup_source=memory: weight of the old value when a sample is seen again."},
    )
    keep_q_on_regroup: bool = field(
        default=False,
        metadata={
            "help": "Keep q across regroups instead of restarting it at uniform (the paper restarts). With loss "
            "quantiles, group k of a domain keeps its meaning (its k-th hardest quarter), so the weight it "
            "earned may still apply; restarting makes every regroup a fresh start of the min-max game."
        },
    )
    regroup_loss_average: int = field(
        default=1,
        metadata={
            "help": "Regroup on each sample's loss averaged over the last N scoring passes (1: the current pass "
            "only, the paper). Hysteresis: a sample must stay hard over several passes to move, so one swing "
            "of the model (e.g. from colour to shape) does not reshuffle every category at once."
        },
    )
    regroup_once_at: int | None = field(
        default=None,
        metadata={
            "help": "One-shot seed categories (JTT/GEORGE's idea with the paper's K quantiles): train plain ERM on "
            "domain-balanced batches until step T, group once at T from that model, then keep the groups and "
            "q to the end (regroup_steps is ignored). The first model's mistakes define the minority; later "
            "models, once fitted to it, cannot redefine it."
        },
    )
    regroup_start: int | None = field(
        default=None,
        metadata={
            "help": "Warm-up: train plain ERM on domain-balanced batches until step T, form the first seed "
            "categories at T from that model, then regroup every regroup_steps after T as the paper does. "
            "Measured on ColoredMNIST (bench/results/composition): the paper's step-0 categories come from the "
            "random initial model and put the true minority in the EASIEST category (precision 0 in the hardest)."
        },
    )
    attribute_columns: list[str] | None = field(
        default=None,
        metadata={
            "help": "Columns that define evaluation groups together with the label (e.g. color_agrees): every "
            "evaluation reports per-group, worst-group and mean-over-groups accuracy. They never reach the "
            "model, the grouping or the sampler."
        },
    )
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "UPPER BOUND, reads ground truth: with algorithm groupdro (or erm), use domain x this "
            "column's values as the groups (e.g. color_agrees: GroupDRO on the true minority). Not a method "
            "for data without known groups."
        },
    )

    scoring_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Batch size per device of the regroup scoring pass; default: the evaluation batch size. Its own "
            "size keeps the pass's peak memory fixed when the evaluation batch is raised for speed."
        },
    )

    def __post_init__(self) -> None:
        launched = launched_processes()
        if launched > 1 and not self.use_cpu and not has_accelerator():
            # torchrun or accelerate launch on a machine without a GPU: TrainingArguments would start every
            # process as a job of its own (world size 1), all writing into one folder. Join them under gloo.
            self.use_cpu = True
        super().__post_init__()
        if launched > 1 and self.world_size != launched:
            raise ValueError(
                f"{launched} processes were launched (WORLD_SIZE) but the run's world size is {self.world_size}: "
                "they would train as separate jobs into one output folder. Launch with torchrun or accelerate "
                "launch on one backend they share (add --use_cpu on a machine without GPUs)."
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}.")
        if self.algorithm == "jtt":
            if self.jtt_upweight < 1:
                raise ValueError(f"jtt_upweight (lambda) must be a positive whole number, got {self.jtt_upweight}.")
            if self.jtt_stage1_steps is not None and self.jtt_stage1_steps < 1:
                raise ValueError(f"jtt_stage1_steps must be a positive number of steps, got {self.jtt_stage1_steps}.")
            if self.max_steps > 0 and self.jtt_stage1_steps is not None and self.jtt_stage1_steps >= self.max_steps:
                raise ValueError(
                    f"jtt_stage1_steps ({self.jtt_stage1_steps}) must be below max_steps ({self.max_steps}): JTT's "
                    "first stage is a short ERM run whose errors stage 2 up-weights. Lower --jtt_stage1_steps."
                )
        if self.group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {GROUP_BY}, got {self.group_by!r}.")
        if self.grouping not in GROUPERS:
            raise ValueError(f"grouping must be a registered grouping {sorted(GROUPERS)}, got {self.grouping!r}.")
        if self.groups_per_domain < 1:
            raise ValueError(f"groups_per_domain must be a positive integer, got {self.groups_per_domain}.")
        if self.regroup_steps < 1:
            raise ValueError(f"regroup_steps must be a positive number of steps, got {self.regroup_steps}.")
        if not self.dro_eta > 0:
            raise ValueError(f"dro_eta must be positive, got {self.dro_eta}.")
        if self.regroup_source not in REGROUP_SOURCES:
            raise ValueError(f"regroup_source must be one of {REGROUP_SOURCES}, got {self.regroup_source!r}.")
        if not 0.0 <= self.memory_decay < 1.0:
            raise ValueError(f"memory_decay must be in [0, 1), got {self.memory_decay}.")
        if self.scoring_batch_size is not None and self.scoring_batch_size < 1:
            raise ValueError(f"scoring_batch_size must be a positive batch size, got {self.scoring_batch_size}.")
        if not self.domain_column:
            raise ValueError("domain_column must name a dataset column, got an empty string.")
        if self.regroup_loss_average < 1:
            raise ValueError(f"regroup_loss_average must be at least 1 (passes), got {self.regroup_loss_average}.")
        if self.regroup_once_at is not None:
            if self.regroup_once_at < 1:
                raise ValueError(f"regroup_once_at must be a positive step, got {self.regroup_once_at}.")
            if self.algorithm != "seedcat":
                raise ValueError(f"regroup_once_at is a seedcat variant; algorithm is {self.algorithm!r}.")
        if self.regroup_start is not None:
            if self.regroup_start < 1:
                raise ValueError(f"regroup_start must be a positive step, got {self.regroup_start}.")
            if self.algorithm != "seedcat" or self.regroup_once_at is not None:
                raise ValueError(
                    "regroup_start is a seedcat variant and excludes regroup_once_at (which already starts at T); "
                    f"algorithm is {self.algorithm!r}, regroup_once_at {self.regroup_once_at}."
                )
        if self.group_column is not None:
            if self.algorithm == "seedcat":
                raise ValueError(
                    "group_column gives known groups to groupdro or erm (an upper bound); seedcat finds its own, "
                    "so use --algorithm groupdro with it."
                )
            if self.group_column in (self.domain_column, "labels"):
                raise ValueError(f"group_column must be an attribute column, not {self.group_column!r}.")
        if self.attribute_columns is not None:
            self.attribute_columns = list(self.attribute_columns)
            reserved = [c for c in self.attribute_columns if c in (self.domain_column, "labels")]
            if reserved or len(set(self.attribute_columns)) != len(self.attribute_columns):
                raise ValueError(
                    f"attribute_columns must name distinct columns other than the domain and labels, got "
                    f"{self.attribute_columns}."
                )


def launched_processes() -> int:
    """How many processes the launcher (torchrun, accelerate launch) started, from its WORLD_SIZE."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def has_accelerator() -> bool:
    """Whether this machine has a device the Trainer would pick over the CPU (CUDA or Intel XPU)."""
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu is not None and xpu.is_available())
