"""Which checkpoint and which hyperparameters to report: DomainBed's three model-selection rules.

A *run* is one ``results.jsonl`` (one algorithm, dataset, set of test environments, trial and
hyperparameter sample). Each rule turns the runs behind one (algorithm, dataset, test environment,
trial) into a validation and a test accuracy:

- training-domain validation: per run, the step with the best mean out-split accuracy over the
  training environments;
- leave-one-domain-out: per step, the mean in-split accuracy of each other training environment,
  measured in the run that held it out as a second test environment (runs with two test environments);
- test-domain validation (oracle): the last step, validated on the test environment's out split;
- two label-free rules (``reference_validation``): the step with the best accuracy on the training
  environments' validation rows that a fixed early model of the run found hard (its hardest loss
  quantile, or its errors). They read neither test-environment labels nor attribute columns; runs made
  before the rules existed carry no value and select nothing.

Across hyperparameter samples the one with the best validation accuracy is reported (first on ties).
Test accuracy is always the test environment's in split, as in DomainBed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

Record = dict[str, Any]

#: What ``reference_validation`` logs, one key per label-free rule (the mean over training domains; per
#: domain ``env{i}_out_<key>``), and what the two label-free selection methods read.
REFERENCE_KEYS = ("ref_quantile_acc", "ref_error_acc")


def environments_of(record: Record) -> list[int]:
    """The environment indices a results record holds accuracies for (``env{i}_{in,out}_acc``)."""
    return sorted({int(key[3:].split("_")[0]) for key in record if key.startswith("env") and key.endswith("_acc")})


def train_envs_of(record: Record, test_envs: Sequence[int]) -> list[int]:
    return [env for env in environments_of(record) if env not in test_envs]


def training_domain_validation(records: Sequence[Record], test_envs: Sequence[int]) -> Record:
    """The record with the best mean out-split accuracy over the training environments (first on ties)."""
    if not records:
        raise ValueError("No results records to select from.")

    def validation(record: Record) -> float:
        envs = train_envs_of(record, test_envs)
        return sum(record[f"env{e}_out_acc"] for e in envs) / len(envs)

    return max(sorted(records, key=lambda record: record["step"]), key=validation)


def last_step(records: Sequence[Record]) -> Record:
    """The final record: what test-domain (oracle) validation reports, without early stopping."""
    if not records:
        raise ValueError("No results records to select from.")
    return max(records, key=lambda record: record["step"])


@dataclass(frozen=True)
class RunKey:
    """What identifies one run inside a sweep."""

    dataset: str
    algorithm: str
    test_envs: tuple[int, ...]
    trial_seed: int
    hparams_seed: int

    @classmethod
    def of(cls, record: Record) -> RunKey:
        args = record["args"]
        return cls(
            dataset=args["dataset"],
            algorithm=args["algorithm"],
            test_envs=tuple(sorted(args["test_envs"])),
            trial_seed=int(args["trial_seed"]),
            hparams_seed=int(args.get("hparams_seed", 0)),  # runs made before sweeps existed are sample 0
        )


@dataclass(frozen=True)
class Selected:
    """One run's (or one trial's) chosen checkpoint."""

    val_acc: float
    test_acc: float
    step: int
    hparams_seed: int


Runs = dict[RunKey, list[Record]]


def group_runs(records: Iterable[Record]) -> Runs:
    """Records grouped by run, each run's records sorted by step."""
    runs: Runs = {}
    for record in records:
        runs.setdefault(RunKey.of(record), []).append(record)
    return {key: sorted(run, key=lambda record: record["step"]) for key, run in runs.items()}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _select_training_domain(runs: Runs, key: RunKey) -> Selected | None:
    run = runs.get(key)
    if not run:
        return None
    (test_env,) = key.test_envs
    record = training_domain_validation(run, key.test_envs)
    val = _mean([record[f"env{e}_out_acc"] for e in train_envs_of(record, key.test_envs)])
    return Selected(val, record[f"env{test_env}_in_acc"], record["step"], key.hparams_seed)


def _select_oracle(runs: Runs, key: RunKey) -> Selected | None:
    run = runs.get(key)
    if not run:
        return None
    (test_env,) = key.test_envs
    record = last_step(run)
    val, test = record[f"env{test_env}_out_acc"], record[f"env{test_env}_in_acc"]
    return Selected(val, test, record["step"], key.hparams_seed)


def _select_leave_one_out(runs: Runs, key: RunKey) -> Selected | None:
    """Per step: validation = mean in-split accuracy of each training environment when it was held out.

    A step counts only if every held-out run reached it; without all the two-test-environment runs
    there is no selection (``None``), as in DomainBed.
    """
    run = runs.get(key)
    if not run:
        return None
    (test_env,) = key.test_envs
    val_envs = train_envs_of(run[0], key.test_envs)
    held_out: dict[int, dict[int, float]] = {}
    for val_env in val_envs:
        pair = runs.get(replace(key, test_envs=tuple(sorted((test_env, val_env)))))
        if not pair:
            return None
        held_out[val_env] = {record["step"]: record[f"env{val_env}_in_acc"] for record in pair}
    best: Selected | None = None
    for record in run:
        step = record["step"]
        if not all(step in accs for accs in held_out.values()):
            continue
        val = _mean([held_out[env][step] for env in val_envs])
        if best is None or val > best.val_acc:
            best = Selected(val, record[f"env{test_env}_in_acc"], step, key.hparams_seed)
    return best


def _select_by_logged(value_key: str) -> Callable[[Runs, RunKey], Selected | None]:
    """A rule that picks the step with the highest logged ``value_key`` (first on ties); steps without it
    (before the rule's reference step, or runs older than the rule) are never picked."""

    def select(runs: Runs, key: RunKey) -> Selected | None:
        (test_env,) = key.test_envs
        candidates = [record for record in runs.get(key, []) if record.get(value_key) is not None]
        if not candidates:
            return None
        record = max(sorted(candidates, key=lambda record: record["step"]), key=lambda record: record[value_key])
        return Selected(record[value_key], record[f"env{test_env}_in_acc"], record["step"], key.hparams_seed)

    return select


SELECTION_METHODS = {
    "training_domain": ("Training-domain validation", _select_training_domain),
    "leave_one_out": ("Leave-one-domain-out cross-validation", _select_leave_one_out),
    "oracle": ("Test-domain validation (oracle)", _select_oracle),
    "reference_quantile": (
        "Label-free: validation rows in a fixed early model's hardest loss quantile",
        _select_by_logged(REFERENCE_KEYS[0]),
    ),
    "reference_errors": (
        "Label-free: validation rows a fixed early model misclassified",
        _select_by_logged(REFERENCE_KEYS[1]),
    ),
}


def select_trial(
    runs: Runs, method: str, dataset: str, algorithm: str, test_env: int, trial_seed: int
) -> Selected | None:
    """The best hyperparameter sample's selection for one trial (first sample on ties); None if none."""
    if method not in SELECTION_METHODS:
        raise ValueError(f"Unknown selection method {method!r}; known: {', '.join(SELECTION_METHODS)}.")
    _, select_run = SELECTION_METHODS[method]
    hparams_seeds = sorted(
        key.hparams_seed
        for key in runs
        if (key.dataset, key.algorithm, key.test_envs, key.trial_seed) == (dataset, algorithm, (test_env,), trial_seed)
    )
    best = None
    for hparams_seed in hparams_seeds:
        selected = select_run(runs, RunKey(dataset, algorithm, (test_env,), trial_seed, hparams_seed))
        if selected is not None and (best is None or selected.val_acc > best.val_acc):
            best = selected
    return best
