"""SeedCatConfig: the method's knobs as ``TrainingArguments`` fields, so every one is a flag."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .grouping import GROUPERS

ALGORITHMS = ("seedcat", "groupdro", "erm")
GROUP_BY = ("domain", "class", "domain_class")
REGROUP_SOURCES = ("pass", "memory")


@dataclass
class SeedCatConfig(TrainingArguments):
    r"""Arguments for :class:`SeedCatTrainer`: ``TrainingArguments`` plus seed-category training.

    Parameters that choose the algorithm:
        algorithm: ``seedcat`` (the paper's Algorithm 1), ``groupdro`` (the same update over domains)
            or ``erm`` (plain mean loss over domain-balanced batches).
        domain_column: the dataset column holding each sample's domain.

    Parameters that define seed categories (``seedcat`` only):
        group_by: the unit split into seed categories: ``domain`` (the paper), ``class`` or
            ``domain_class``.
        grouping: the grouper's registry name (``loss_rank``: loss quantiles, the paper's best).
        groups_per_domain: seed categories per unit, K (4 in the paper).
        regroup_steps: t0, steps between redistributions (1000 in the paper); regrouping also runs at step 0.

    Parameters of the weighting:
        dro_eta: eta in ``q_g <- q_g * exp(eta * loss_g)`` (0.01, from GroupDRO and the paper).

    The batch: ``per_device_train_batch_size`` is the *total* batch of one process for one step. It is
    divided equally among the groups in play (seed categories for ``seedcat``, domains otherwise), as
    the paper keeps the total fixed; with G groups each gets ``per_device_train_batch_size // G``
    samples, so pick a multiple of G to use the whole batch. With N processes the global batch is N
    times that. Other defaults are those of ``TrainingArguments``; ``scripts/run_dg.py`` switches to
    DomainBed's protocol (constant learning rate, no gradient clipping).
    """

    algorithm: str = field(
        default="seedcat",
        metadata={"help": "Training algorithm.", "choices": list(ALGORITHMS)},
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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}.")
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
        if not self.domain_column:
            raise ValueError("domain_column must name a dataset column, got an empty string.")
