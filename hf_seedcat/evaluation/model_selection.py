"""Which checkpoint of a run to report: DomainBed's selection rules over ``results.jsonl`` records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def environments_of(record: dict[str, Any]) -> list[int]:
    """The environment indices a results record holds accuracies for (``env{i}_{in,out}_acc``)."""
    return sorted({int(key[3:].split("_")[0]) for key in record if key.startswith("env") and key.endswith("_acc")})


def train_envs_of(record: dict[str, Any], test_envs: Sequence[int]) -> list[int]:
    return [env for env in environments_of(record) if env not in test_envs]


def training_domain_validation(records: Sequence[dict[str, Any]], test_envs: Sequence[int]) -> dict[str, Any]:
    """The record with the best mean out-split accuracy over the training environments (first on ties)."""
    if not records:
        raise ValueError("No results records to select from.")

    def validation(record: dict[str, Any]) -> float:
        envs = train_envs_of(record, test_envs)
        return sum(record[f"env{e}_out_acc"] for e in envs) / len(envs)

    return max(records, key=validation)


def last_step(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The final record: what test-domain (oracle) validation reports, without early stopping."""
    if not records:
        raise ValueError("No results records to select from.")
    return max(records, key=lambda record: record["step"])
