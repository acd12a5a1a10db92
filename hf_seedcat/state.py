"""The checkpointable seed-category state: q, the group of every sample, the last regroup step, the sampler.

Every process writes its own copy, ``seedcat_state_{process_index}.json`` (like the Trainer's
``rng_state_{i}.pth``); on resume the copies must agree, and must describe this run's data and groups.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

STATE_FILE = "seedcat_state_{}.json"
FORMAT_VERSION = 1


@dataclass
class SeedCategoryState:
    algorithm: str
    grouping: str
    group_by: str
    groups_per_unit: int
    unit_names: list[str]
    group_names: list[str]
    group_ids: list[int]
    q: list[float]
    eta: float
    last_regroup_step: int | None
    sampler: dict[str, Any]
    num_samples: int
    dataset_fingerprint: str | None
    format_version: int = FORMAT_VERSION

    def save(self, folder: str, process_index: int) -> str:
        """Write atomically: a reader sees the old file or the complete new one, never half of it."""
        path = os.path.join(folder, STATE_FILE.format(process_index))
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str, process_index: int) -> SeedCategoryState:
        path = os.path.join(folder, STATE_FILE.format(process_index))
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"Checkpoint {folder} has no {os.path.basename(path)}: it was not written by SeedCatTrainer "
                "(or by a run with fewer processes), so its seed categories cannot be restored."
            )
        with open(path, encoding="utf-8") as handle:
            return cls(**json.load(handle))

    def digest(self) -> str:
        """What every process must agree on: groups, q and the last regroup step."""
        payload = json.dumps([self.group_ids, self.q, self.last_regroup_step, self.group_names])
        return hashlib.sha256(payload.encode()).hexdigest()

    def check_compatible(self, expected: SeedCategoryState, folder: str) -> None:
        """Refuse a checkpoint made on other data or with another grouping, with the reason."""
        if self.num_samples != expected.num_samples or (
            self.dataset_fingerprint
            and expected.dataset_fingerprint
            and self.dataset_fingerprint != expected.dataset_fingerprint
        ):
            raise ValueError(
                f"Checkpoint {folder} was made on another training set ({self.num_samples} samples, "
                f"fingerprint {self.dataset_fingerprint}) than this run's ({expected.num_samples} samples, "
                f"fingerprint {expected.dataset_fingerprint}); its seed categories do not apply."
            )
        for name in ("algorithm", "grouping", "group_by", "groups_per_unit"):
            if getattr(self, name) != getattr(expected, name):
                raise ValueError(
                    f"Checkpoint {folder} was made with {name}={getattr(self, name)!r} but this run uses "
                    f"{name}={getattr(expected, name)!r}; resuming would give a different number or kind of groups."
                )
        if self.eta != expected.eta:
            raise ValueError(
                f"Checkpoint {folder} was made with dro_eta={self.eta} but this run uses dro_eta={expected.eta}; "
                f"pass --dro_eta {self.eta} to resume it, or start the new setting in a new --output_dir."
            )
        for key, meaning in (("num_replicas", "processes"), ("seed", "sampler seed"), ("scheme", "sampler scheme")):
            saved, wanted = self.sampler.get(key), expected.sampler.get(key)
            if saved is not None and wanted is not None and saved != wanted:
                raise ValueError(
                    f"Checkpoint {folder} was made with {saved} as its {meaning} ({key}) but this run has {wanted}: "
                    "its batches would not continue the same sequence. Resume with the same number of processes "
                    "and --seed (and this hf_seedcat version), or start in a new --output_dir."
                )
        if self.unit_names != expected.unit_names:
            raise ValueError(
                f"Checkpoint {folder} has units {self.unit_names} but this run's training set has "
                f"{expected.unit_names}; the checkpoint comes from other domains."
            )


def check_process_copies_agree(folder: str) -> None:
    """Every process's copy in a checkpoint must hold the same groups and q."""
    paths = sorted(glob.glob(os.path.join(folder, STATE_FILE.format("*"))))
    digests = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            digests[os.path.basename(path)] = SeedCategoryState(**json.load(handle)).digest()
    if len(set(digests.values())) > 1:
        raise ValueError(
            f"The seed-category states in {folder} disagree between processes ({', '.join(sorted(digests))}): "
            "the checkpoint is inconsistent and cannot be resumed exactly."
        )
