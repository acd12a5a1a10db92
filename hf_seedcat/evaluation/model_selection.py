"""Which checkpoint and which hyperparameters to report: DomainBed's three model-selection rules, two
label-free ones, and two by groups.

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
  before the rules existed carry no value and select nothing;
- two rules by groups, SubpopBench's: the step with the best validation worst-group accuracy, where the
  attributes are known on validation (``val_worst_group``, SubpopBench's ``ValWorstAccAttributeYes``), and
  the step with the best validation worst-class accuracy, where they are not (``val_worst_class``,
  ``ValWorstAccAttributeNo``: the classes stand in for the groups).

Validation is the training environments' out splits in a dataset of domains, and the ``validation`` split in
a *split-based* run (``args["split_based"]``: a worst-group dataset that comes as train / validation / test,
with ``test_envs == []``). Every rule reads only validation keys to choose a step (``choose_step``); the test
accuracy is read afterwards, from the chosen record: the test environment's in split as in DomainBed, or the
``test`` split. Split-based runs have no environments, so leave-one-domain-out selects nothing there, and
neither does the oracle, which would have to read the test split itself. Training-domain validation there is
the validation split's accuracy (SubpopBench's ``ValMeanAcc``).

Across hyperparameter samples the one with the best validation accuracy is reported (first on ties).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

Record = dict[str, Any]

#: What ``reference_validation`` logs, one key per label-free rule (the mean over training domains; per
#: domain ``env{i}_out_<key>``), and what the two label-free selection methods read.
REFERENCE_KEYS = ("ref_quantile_acc", "ref_error_acc")
DEFAULT_REFERENCE_STEP = 200
"""The step of the fixed early model whose rows the label-free rules read; they are logged from it on."""


VALIDATION_SPLIT, TEST_SPLIT = "validation", "test"
"""The split names of a split-based run: its ``results.jsonl`` holds ``validation_acc``, ``test_acc``, ..."""

#: The two rules by groups and the per-split key each reads (``<split>_<key>``).
WORST_KEYS = {"val_worst_group": "worst_group_acc", "val_worst_class": "worst_class_acc"}


def environments_of(record: Record) -> list[int]:
    """The environment indices a results record holds accuracies for (``env{i}_{in,out}_acc``)."""
    return sorted({int(key[3:].split("_")[0]) for key in record if key.startswith("env") and key.endswith("_acc")})


def train_envs_of(record: Record, test_envs: Sequence[int]) -> list[int]:
    return [env for env in environments_of(record) if env not in test_envs]


def is_split_based(record: Record) -> bool:
    """Whether the record's run evaluated ``validation`` and ``test`` splits rather than environments."""
    return bool(record["args"].get("split_based", False))


def validation_splits(record: Record, test_envs: Sequence[int]) -> list[str]:
    """The splits a selection rule may read: the training environments' out splits, or ``validation``."""
    if is_split_based(record):
        return [VALIDATION_SPLIT]
    return [f"env{env}_out" for env in train_envs_of(record, test_envs)]


def reported_split(record: Record, test_envs: Sequence[int]) -> str:
    """The split whose accuracy is reported: the (single) test environment's in split, or ``test``."""
    if is_split_based(record):
        return TEST_SPLIT
    (test_env,) = test_envs
    return f"env{test_env}_in"


def validation_accuracy(record: Record, test_envs: Sequence[int]) -> float:
    """Mean accuracy over the validation splits (training-domain validation's score)."""
    return _mean([record[f"{split}_acc"] for split in validation_splits(record, test_envs)])


def validation_worst(record: Record, test_envs: Sequence[int], key: str) -> float | None:
    """The lowest ``<split>_<key>`` over the validation splits (``key``: ``worst_group_acc`` or
    ``worst_class_acc``); None where any of them lacks it (no attribute columns, or a run older than the key).

    With environments this is the worst (domain, group) cell of the training domains' out splits, not a
    pooled worst group: the test metric is one domain's worst group, a domain is a group in DomainBed's own
    GroupDRO, and the minimum keeps a domain's bad group from being averaged away by the others'. It needs
    no group sizes, so it reads every run that logged group keys."""
    values = [record.get(f"{split}_{key}") for split in validation_splits(record, test_envs)]
    if not values or any(value is None or value != value for value in values):  # None, or NaN in memory
        return None
    return min(values)


def training_domain_validation(records: Sequence[Record], test_envs: Sequence[int]) -> Record:
    """The record with the best mean out-split accuracy over the training environments, or the best
    ``validation_acc`` in a split-based run (first on ties)."""
    if not records:
        raise ValueError("No results records to select from.")
    return max(sorted(records, key=lambda record: record["step"]), key=lambda r: validation_accuracy(r, test_envs))


def last_step(records: Sequence[Record]) -> Record:
    """The final record: what test-domain (oracle) validation reports, without early stopping."""
    if not records:
        raise ValueError("No results records to select from.")
    return max(records, key=lambda record: record["step"])


@dataclass(frozen=True)
class RunKey:
    """What identifies one run inside a sweep (``test_envs`` is empty in a split-based run)."""

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
    """One run's (or one trial's) chosen checkpoint, with the test split's accuracy and, where the run has
    attribute columns, its worst-group accuracy (and whether some group had no test sample)."""

    val_acc: float
    test_acc: float
    step: int
    hparams_seed: int
    test_worst_group_acc: float | None = None
    test_groups_empty: bool = False


@dataclass(frozen=True)
class Choice:
    """A run's chosen step and its validation accuracy, found from validation keys alone."""

    record: Record
    val_acc: float

    def selected(self, key: RunKey) -> Selected:
        """The choice with its test numbers: only now are the test split's keys read."""
        split = reported_split(self.record, key.test_envs)
        return Selected(
            self.val_acc,
            self.record[f"{split}_acc"],
            self.record["step"],
            key.hparams_seed,
            self.record.get(f"{split}_worst_group_acc"),
            bool(self.record.get(f"{split}_groups_empty", False)),
        )


Runs = dict[RunKey, list[Record]]
Chooser = Callable[[Runs, RunKey], Choice | None]


def group_runs(records: Iterable[Record]) -> Runs:
    """Records grouped by run, each run's records sorted by step."""
    runs: Runs = {}
    for record in records:
        runs.setdefault(RunKey.of(record), []).append(record)
    return {key: sorted(run, key=lambda record: record["step"]) for key, run in runs.items()}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _best(scored: Sequence[tuple[Record, float]]) -> Choice | None:
    """The highest score, the earliest step on ties; None when nothing is scored."""
    if not scored:
        return None
    record, score = max(sorted(scored, key=lambda pair: pair[0]["step"]), key=lambda pair: pair[1])
    return Choice(record, score)


def _domain_run(runs: Runs, key: RunKey) -> list[Record]:
    """The run when it has environments and one test environment (what DomainBed's own rules need), else []."""
    run = runs.get(key, [])
    return run if run and len(key.test_envs) == 1 and not is_split_based(run[0]) else []


def _choose_training_domain(runs: Runs, key: RunKey) -> Choice | None:
    run = runs.get(key)
    if not run or (not is_split_based(run[0]) and len(key.test_envs) != 1):
        return None
    record = training_domain_validation(run, key.test_envs)
    return Choice(record, validation_accuracy(record, key.test_envs))


def _choose_oracle(runs: Runs, key: RunKey) -> Choice | None:
    """The last step, validated on the test environment's out split; none without environments (it would
    read the test split itself)."""
    run = _domain_run(runs, key)
    if not run:
        return None
    (test_env,) = key.test_envs
    record = last_step(run)
    return Choice(record, record[f"env{test_env}_out_acc"])


def _choose_leave_one_out(runs: Runs, key: RunKey) -> Choice | None:
    """Per step: validation = mean in-split accuracy of each training environment when it was held out.

    A step counts only if every held-out run reached it; without all the two-test-environment runs
    there is no selection (``None``), as in DomainBed; nor without environments.
    """
    run = _domain_run(runs, key)
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
    scored = [
        (record, _mean([held_out[env][record["step"]] for env in val_envs]))
        for record in run
        if all(record["step"] in accs for accs in held_out.values())
    ]
    return _best(scored)


def _choose_by_logged(value_key: str) -> Chooser:
    """A rule that picks the step with the highest logged ``value_key`` (first on ties); steps without it
    (before the rule's reference step, or runs older than the rule) are never picked."""

    def choose(runs: Runs, key: RunKey) -> Choice | None:
        return _best(
            [(record, record[value_key]) for record in runs.get(key, []) if record.get(value_key) is not None]
        )

    return choose


def _choose_by_worst(split_key: str) -> Chooser:
    """A rule that picks the step with the highest ``validation_worst`` of ``split_key`` (first on ties);
    steps where a validation split lacks it are never picked."""

    def choose(runs: Runs, key: RunKey) -> Choice | None:
        run = runs.get(key, [])
        scored = [(record, validation_worst(record, key.test_envs, split_key)) for record in run]
        return _best([(record, value) for record, value in scored if value is not None])

    return choose


@dataclass(frozen=True)
class SelectionRule:
    """A rule as ``SELECTION_METHODS`` holds it: ``choose`` finds the step from validation keys alone;
    calling the rule also reports that step's test accuracy (``Selected``)."""

    choose: Chooser

    def __call__(self, runs: Runs, key: RunKey) -> Selected | None:
        choice = self.choose(runs, key)
        return None if choice is None else choice.selected(key)


SELECTION_METHODS: dict[str, tuple[str, SelectionRule]] = {
    "training_domain": ("Training-domain validation", SelectionRule(_choose_training_domain)),
    "leave_one_out": ("Leave-one-domain-out cross-validation", SelectionRule(_choose_leave_one_out)),
    "oracle": ("Test-domain validation (oracle)", SelectionRule(_choose_oracle)),
    "reference_quantile": (
        "Label-free: validation rows in a fixed early model's hardest loss quantile",
        SelectionRule(_choose_by_logged(REFERENCE_KEYS[0])),
    ),
    "reference_errors": (
        "Label-free: validation rows a fixed early model misclassified",
        SelectionRule(_choose_by_logged(REFERENCE_KEYS[1])),
    ),
    "val_worst_group": (
        "Validation worst-group accuracy (attributes known on validation)",
        SelectionRule(_choose_by_worst(WORST_KEYS["val_worst_group"])),
    ),
    "val_worst_class": (
        "Validation worst-class accuracy (attributes unknown)",
        SelectionRule(_choose_by_worst(WORST_KEYS["val_worst_class"])),
    ),
}


def _method(method: str) -> SelectionRule:
    if method not in SELECTION_METHODS:
        raise ValueError(f"Unknown selection method {method!r}; known: {', '.join(SELECTION_METHODS)}.")
    return SELECTION_METHODS[method][1]


def choose_step(runs: Runs, method: str, key: RunKey) -> Choice | None:
    """One run's choice under ``method``, read from validation keys only (no test key is touched)."""
    return _method(method).choose(runs, key)


def select_trial(
    runs: Runs, method: str, dataset: str, algorithm: str, test_env: int | None, trial_seed: int
) -> Selected | None:
    """The best hyperparameter sample's selection for one trial (first sample on ties); None if none.
    ``test_env`` None: the split-based runs (no test environment)."""
    select_run = _method(method)
    test_envs = () if test_env is None else (test_env,)
    hparams_seeds = sorted(
        key.hparams_seed
        for key in runs
        if (key.dataset, key.algorithm, key.test_envs, key.trial_seed) == (dataset, algorithm, test_envs, trial_seed)
    )
    best = None
    for hparams_seed in hparams_seeds:
        choice = select_run.choose(runs, RunKey(dataset, algorithm, test_envs, trial_seed, hparams_seed))
        if choice is not None and (best is None or choice.val_acc > best[0].val_acc):
            best = (choice, hparams_seed)
    if best is None:
        return None
    choice, hparams_seed = best
    return choice.selected(RunKey(dataset, algorithm, test_envs, trial_seed, hparams_seed))
