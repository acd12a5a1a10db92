"""DomainBedConfig: DomainBed's training protocol as the defaults of a config class, not as patched argv."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers.trainer_utils import SchedulerType
from transformers.training_args import OptimizerNames

from .config import SeedCatConfig


@dataclass
class DomainBedConfig(SeedCatConfig):
    r"""``SeedCatConfig`` with DomainBed's protocol as its defaults: what ``seedcat-train`` (``run_dg.py``) parses.

    Defaults that differ from ``TrainingArguments``, and why (DomainBed's ``train.py`` and
    ``hparams_registry.py``, so runs compare with its tables):
        optim: ``adamw_torch`` with ``weight_decay`` 0 (below) is DomainBed's ``torch.optim.Adam``.
        lr_scheduler_type: ``constant``: DomainBed never decays the learning rate.
        max_grad_norm: 0, no gradient clipping (DomainBed clips nothing).
        max_steps: 5000, DomainBed's ``N_STEPS``.
        save_steps, save_total_limit: one checkpoint every 1000 steps, the last one kept: enough to resume a
            killed run of a sweep without filling a disk with 5 copies per run.
        report_to: ``none``: a sweep of hundreds of runs must not start an integration per run.
        ddp_find_unused_parameters: ``False``: every parameter gets a gradient, so DDP need not search.

    Defaults that depend on the data, left at ``None`` here and filled by ``fill_data_defaults`` once the
    dataset is loaded (``experiment.run_experiment`` does it; give them yourself to hand this config straight
    to ``SeedCatTrainer``); a value given on the command line always wins:
        learning_rate, weight_decay: the dataset's (``hparams.default_hparams``): DomainBed's 1e-3 and 0 for the
            MNIST datasets and 5e-5 and 0 for other images; for text a fine-tuning default (2e-5, 0.01).
        per_device_train_batch_size: DomainBed's batch per training environment (64 MNIST, 32 otherwise)
            times the training environments, split evenly over the processes.
        per_device_eval_batch_size, scoring_batch_size: sized to the modality (``modalities``): 1024 for small
            images, 64 for large images and text. The scoring pass takes the smaller of that and the evaluation
            batch, so a large evaluation batch never grows the regroup pass's peak memory.
    """

    max_steps: int = field(default=5000, metadata={"help": "Optimizer steps of the run (DomainBed: 5000)."})
    learning_rate: float | None = field(
        default=None,
        metadata={"help": "Adam's learning rate; default: the dataset's (1e-3 MNIST, 5e-5 other images, 2e-5 text)."},
    )
    weight_decay: float | None = field(
        default=None, metadata={"help": "Weight decay; default: the dataset's (0; 0.01 for text)."}
    )
    per_device_train_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "TOTAL batch of one process for one step, split equally among the groups; default: DomainBed's "
            "batch per training environment (64 MNIST, 32 otherwise) x training environments / processes."
        },
    )
    per_device_eval_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Evaluation batch per device; default: sized to the data (1024 small images, 64 otherwise)."
        },
    )
    optim: OptimizerNames | str = field(
        default="adamw_torch",
        metadata={"help": "The optimizer; default adamw_torch, which with weight decay 0 is DomainBed's Adam."},
    )
    lr_scheduler_type: SchedulerType | str = field(
        default="constant", metadata={"help": "Learning-rate schedule; default constant, as DomainBed."}
    )
    max_grad_norm: float = field(
        default=0.0, metadata={"help": "Gradient clipping norm; default 0: none, as DomainBed."}
    )
    save_steps: float = field(default=1000, metadata={"help": "Save a checkpoint every N steps (resume point)."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints kept; default 1, the last."})
    report_to: None | str | list[str] = field(
        default="none", metadata={"help": "Logging integrations; default none (a sweep starts hundreds of runs)."}
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "DDP's find_unused_parameters; default False: every parameter trains."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0, got {value}.")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive batch size, got {value}.")

    def fill_data_defaults(
        self,
        *,
        learning_rate: float,
        weight_decay: float,
        batch_size_per_environment: int,
        n_train_envs: int,
        eval_batch_size: int,
    ) -> None:
        """Give each data-dependent field the data's default where the user gave none; given values are kept.

        The global training batch is DomainBed's, ``batch_size_per_environment`` per training environment, split
        evenly over the processes; a batch that does not split fails with the flag that fixes it.
        """
        if self.learning_rate is None:
            self.learning_rate = learning_rate
        if self.weight_decay is None:
            self.weight_decay = weight_decay
        if self.per_device_train_batch_size is None:
            total = batch_size_per_environment * n_train_envs
            if total % self.world_size:
                raise ValueError(
                    f"DomainBed's global batch of {total} ({batch_size_per_environment} per training environment) "
                    f"does not split over {self.world_size} processes; pass --per_device_train_batch_size."
                )
            self.per_device_train_batch_size = total // self.world_size
        if self.per_device_eval_batch_size is None:
            self.per_device_eval_batch_size = eval_batch_size
        if self.scoring_batch_size is None:  # never above the data's size, however large the evaluation batch
            self.scoring_batch_size = min(eval_batch_size, self.per_device_eval_batch_size)
