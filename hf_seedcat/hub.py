"""Reloading a trained model, its model card, and sharing both on the Hugging Face Hub.

A run's output folder is a complete model repository: weights, config, the tokenizer for text, and a
``README.md`` card rendered from ``templates/model_card.md`` with the per-domain accuracy table and the
seed-category settings. ``push_run`` uploads it through ``Trainer.push_to_hub``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import transformers
from huggingface_hub import ModelCard, ModelCardData
from transformers import PreTrainedConfig, PreTrainedModel

from .models import MnistCnnForImageClassification, TimmForImageClassification

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
TAGS = ["hf_seedcat", "seed-categories", "domain-generalization"]
CITATION = """@misc{mei_pattern_imbalance,
  title  = {Exploring and Utilizing Pattern Imbalance},
  author = {Mei, Shibin and Zhao, Chenglong and Yuan, Shengchao and Ni, Bingbing},
  note   = {Shanghai Jiao Tong University}
}"""
SEEDCAT_MODELS = {cls.__name__: cls for cls in (MnistCnnForImageClassification, TimmForImageClassification)}


class HubPushError(RuntimeError):
    """The run is saved locally, but uploading it to the Hub failed."""


def load_model(path_or_repo_id: str, **kwargs: Any) -> PreTrainedModel:
    """The model a run saved (its output folder or its Hub repository), in eval mode.

    The class comes from ``config.architectures``: hf_seedcat's image classifiers, or any transformers
    architecture (text models); ``kwargs`` go to ``from_pretrained``.
    """
    config, _ = PreTrainedConfig.get_config_dict(path_or_repo_id)
    name = (config.get("architectures") or [""])[0]
    model_class = SEEDCAT_MODELS.get(name) or getattr(transformers, name, None)
    if model_class is None:
        raise ValueError(f"{path_or_repo_id}: unknown architecture {name!r}; not a model saved by hf_seedcat.")
    return model_class.from_pretrained(path_or_repo_id, **kwargs).eval()


def model_card(
    args: Any,
    model: PreTrainedModel,
    *,
    dataset: str,
    environments: list[str],
    test_envs: list[int],
    results_table: str,
    last_step: int,
    selection: str = "training-domain validation (DomainBed): the step with the best mean accuracy on the "
    "training domains' held-out splits",
    base_model: str | None = None,
    repo_id: str | None = None,
    tags: list[str] | None = None,
    provenance: dict[str, Any] | None = None,
) -> ModelCard:
    """The card of one run: metadata for the Hub, the accuracy table, the selection method, the settings."""
    seedcat = args.algorithm == "seedcat"
    card_data = ModelCardData(
        library_name="hf_seedcat",
        tags=[*TAGS, args.algorithm, *(tags or [])],
        datasets=[dataset],
        metrics=["accuracy"],
        base_model=base_model if base_model and "/" in base_model and not os.path.isdir(base_model) else None,
        pipeline_tag="text-classification" if "ForSequenceClassification" in type(model).__name__ else None,
    )
    settings = {
        "algorithm": args.algorithm,
        "grouping": args.grouping if seedcat else "domain (one group per domain)",
        "group_by": args.group_by if seedcat else "domain",
        "groups_per_domain (K)": args.groups_per_domain if seedcat else 1,
        "regroup_steps (t0)": args.regroup_steps if seedcat else "-",
        "dro_eta": args.dro_eta if args.algorithm not in ("erm", "jtt") else "-",
        "learning_rate": args.learning_rate,
        "batch size per process": args.per_device_train_batch_size,
        "max_steps": args.max_steps,
        "seed": args.seed,
        "attribute columns (evaluation groups only)": ", ".join(args.attribute_columns or []) or "-",
    }
    if provenance:
        settings["data"] = provenance.get("dataset_id")
        settings["data revision"] = provenance.get("revision") or "-"
        settings["rows checksum (sha256)"] = provenance.get("rows_checksum")
    repo_id = repo_id or args.hub_model_id or args.output_dir
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=Path(repo_id).name,
        architecture=getattr(model.config, "backbone", None) or type(model).__name__,
        dataset=dataset,
        environments=", ".join(environments),
        test_domains=", ".join(environments[i] for i in test_envs),
        algorithm=args.algorithm,
        base_model=base_model,
        results_table=results_table,
        selection=selection,
        last_step=last_step,
        settings=settings,
        repo_id=repo_id,
        usage_note=_usage_note(model),
        citation=CITATION,
    )


def _usage_note(model: PreTrainedModel) -> str:
    config = model.config
    if getattr(config, "image_mean", None) is not None:
        return (
            f"Inputs: RGB images resized to a square and normalised with mean {list(config.image_mean)} and std "
            f"{list(config.image_std)}; the model returns `logits` over {dict(config.id2label)}."
        )
    return f"Tokenize with the tokenizer saved beside the model; labels: {dict(config.id2label)}."


def write_model_card(trainer: Any, **card_fields: Any) -> str:
    """Render the run's card (``model_card``) into its output folder as ``README.md``; return the path.

    The run writes it, not the Trainer: ``SeedCatTrainer.create_model_card`` keeps a card it finds.
    """
    path = os.path.join(trainer.args.output_dir, "README.md")
    card_fields.pop("model_name", None)  # push_to_hub's; the card names the model by its repository
    model_card(trainer.args, trainer.accelerator.unwrap_model(trainer.model), **card_fields).save(path)
    return path


def push_run(trainer: Any, **card_fields: Any) -> Any:
    """Write the card, then upload the saved output folder with ``Trainer.push_to_hub``; fail naming the
    local copy."""
    repo = trainer.args.hub_model_id or Path(trainer.args.output_dir).absolute().name
    if trainer.is_world_process_zero():
        write_model_card(trainer, **card_fields)
    try:
        return trainer.push_to_hub(commit_message="hf_seedcat run")
    except Exception as error:
        raise HubPushError(
            f"The run is saved in {trainer.args.output_dir} (model, model card, results.jsonl), but pushing it to "
            f"the Hub as {repo!r} failed: {type(error).__name__}: {error}. Check the network and your token "
            f"(`hf auth login`), then upload the folder with `hf upload {repo} {trainer.args.output_dir}`."
        ) from error
