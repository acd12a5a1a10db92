"""Deep Feature Reweighting (DFR): retrain only the last layer on a group-balanced held-out split.

After Kirichenko, Izmailov and Wilson, "Last Layer Re-Training is Sufficient for Robustness to Spurious
Correlations" (ICLR 2023), in the variant their code runs by default on held-out data, the paper's
DFR^Val_Tr (``dfr_on_validation_tune`` and ``dfr_on_validation_eval`` in ``dfr_evaluate_spurious.py`` of
PolinaKirichenko/deep_feature_reweighting, with ``balance_dfr_val`` and ``notrain_dfr_val`` on). The trained
network is frozen; the group annotations are used here and nowhere else, and only on the held-out rows the
caller passes. Test data never reaches :func:`fit_dfr`.

The three steps, each a function a caller can run and check on its own::

    features, labels = penultimate_features(model, held_out, collator, batch_size=256)
    fit = fit_dfr(features, labels, groups)   # groups: label x attributes, one id per held-out row
    apply_dfr(model, fit)                     # the final nn.Linear now holds DFR's weights

The protocol of :func:`fit_dfr`, and where it follows or departs from DFR's code:

* Classifier: scikit-learn ``LogisticRegression`` with an L1 penalty and ``solver="liblinear"`` (as DFR's
  ``REG = "l1"``), scikit-learn's default iteration limit (as DFR), ``random_state=seed`` (DFR leaves it
  unset; liblinear shuffles with it, so it is fixed here for a reproducible fit). No class
  weights: with balanced held-out data and no training rows DFR's code tries only ``{0: 1, 1: 1}``.
* C grid: DFR's Waterbirds grid ``C_OPTIONS`` = 1, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01 (:data:`DFR_C_GRID`). DFR's
  code keeps a second grid for CelebA (3 ... 0.003) commented out.
* Tuning: the held-out rows are split into two halves, as DFR does. Departure: the split is stratified by
  group (each group's rows are shuffled and its first ``n // 2`` score, the rest train; DFR takes a plain
  random half, ``len // 2`` rows scoring), so every group is in both halves whenever it has two rows. One
  group-balanced subsample of the training half (every group cut to the smallest group's count, rows drawn
  without replacement, as DFR) trains a model for every C; each is scored by its worst-group accuracy on
  the other half; the best C wins, the first in grid order on ties (DFR's ``argmax`` over the grid in order).
  DFR averages over ``num_retrains=1`` such split, as here.
* Standardisation: ``StandardScaler``. For tuning it is fitted on the whole training half (DFR: on the
  balanced subsample it trains on); the scoring half never informs it. For the refit it is fitted on every
  held-out row. Departure: DFR's refit fits its scaler on the *training* split's features; this module sees
  only held-out rows, so the held-out rows standardise it. The returned weights act on raw features: the
  scaler is folded in (``w / scale``, ``b - w . mean / scale``).
* Refit: with the chosen C, on ``n_refits`` group-balanced subsamples of the *whole* held-out split (both
  halves), each drawn afresh; their coefficients and intercepts (in standardised space, one scaler for all)
  are averaged, as DFR does. DFR's held-out path averages 20 (``num_retrains=20``); its training-subset path
  10. The default here is 10.
* More than two classes: one-vs-rest, one binary L1 model per class on the same rows, the prediction the
  highest score. This is what liblinear did inside DFR's scikit-learn (liblinear's multi-class mode was
  OvR); recent scikit-learn (1.9) refuses liblinear on three or more classes, so the classes are fitted one
  by one here. DFR's benchmarks (Waterbirds, CelebA) have two classes.

Randomness: one ``numpy`` generator seeded with ``seed`` draws, in order, the halves, the tuning subsample
and the refit subsamples; :class:`DFRRows` records every row each stage used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
import torch
from packaging.version import Version
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader
from transformers import default_data_collator

from .indexed_dataset import hidden_columns

#: DFR's grid of inverse L1 strengths (``C_OPTIONS`` in DFR's ``dfr_evaluate_spurious.py``), tried in order.
DFR_C_GRID: tuple[float, ...] = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)


# --------------------------------------------------------------------------------------------- features


def final_linear(model: nn.Module) -> nn.Linear:
    """The classification layer: the last ``nn.Linear`` registered in ``model`` with ``config.num_labels``
    outputs (any last ``nn.Linear`` when the model has no config).

    One rule covers hf_seedcat's image models (``classifier``, timm's ``fc``/``head``) and Hugging Face text
    classifiers (BERT's ``classifier``, RoBERTa's ``out_proj``), whose heads are registered after their
    bodies. Names are not used: they differ by architecture. Registration order is not execution order in
    general, so :func:`penultimate_features` checks at run time that this layer ran once, on one vector per
    row, and that its output is the model's logits (a per-token head such as GPT-2's ``score``, pooled
    after it runs, fails that check and is refused).
    """
    model = getattr(model, "module", model)
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    linears = [
        module
        for module in model.modules()
        if isinstance(module, nn.Linear) and (num_labels is None or module.out_features == num_labels)
    ]
    if not linears:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear with config.num_labels = {num_labels} outputs; DFR "
            "retrains a final linear classifier, so the model needs one."
        )
    return linears[-1]


@torch.no_grad()
def penultimate_features(
    model: nn.Module,
    dataset: Any,
    collate_fn: Callable | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    *,
    domain_column: str = "domain",
    attribute_columns: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every row's penultimate features (float32 ``[n, d]``, the input of :func:`final_linear`) and label
    (int64 ``[n]``), in the dataset's order.

    ``dataset``: a ``datasets.Dataset`` (or any map-style dataset of dicts) with a ``labels`` column. Its
    rows are batched as the Trainer batches them (``collate_fn``, default ``default_data_collator``), and
    the model sees only its inputs: the columns its ``forward`` names, never ``labels``, the domain, the
    attributes or hf_seedcat's index columns (``hidden_columns``). ``device``: where the inputs go (default:
    the model's); the model is not moved. It runs in eval mode without gradients, and its mode is restored.
    """
    inner = getattr(model, "module", model)
    head = final_linear(inner)
    hidden = set(hidden_columns(domain_column, attribute_columns))
    wanted = set(inspect.signature(inner.forward).parameters) - {"labels", "output_features"} - hidden
    columns = getattr(dataset, "column_names", None)
    if columns is not None:
        if "labels" not in columns:
            raise ValueError(
                f"The dataset has no 'labels' column (columns: {columns}); name the class column 'labels'."
            )
        # A dataset with a transform (text, image files) keeps its raw columns, which the transform turns
        # into the model's inputs (as SeedCatTrainer._remove_unused_columns does); batches are filtered below.
        if getattr(dataset, "format", {}).get("type") != "custom":
            dataset = dataset.select_columns([c for c in columns if c in wanted or c == "labels"])
    if device is None:
        device = next(inner.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_fn or default_data_collator)

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = head.register_forward_hook(lambda module, args, output: seen.append((args[0], output)))
    was_training = model.training
    model.eval()
    features, labels = [], []
    try:
        for batch in loader:
            if "labels" not in batch:
                raise ValueError(
                    f"The batches have no 'labels' (keys: {list(batch)}); name the class column 'labels'."
                )
            inputs = {key: value.to(device) for key, value in batch.items() if key in wanted}
            seen.clear()
            logits = model(**inputs).logits
            _check_head_call(seen, logits, head)
            features.append(seen[0][0].float().cpu())
            labels.append(batch["labels"].cpu())
    finally:
        handle.remove()
        model.train(was_training)
    if not features:
        raise ValueError("The dataset is empty: DFR needs held-out rows.")
    return torch.cat(features).numpy(), torch.cat(labels).long().numpy()


def _check_head_call(seen: list[tuple[torch.Tensor, torch.Tensor]], logits: torch.Tensor, head: nn.Linear) -> None:
    """The head ran once, on one vector per row, and its output is the logits: then its input is what DFR
    retrains on, and writing its weights changes exactly the model's predictions."""
    where = f"the final nn.Linear ({head.in_features} -> {head.out_features})"
    if len(seen) != 1:
        raise RuntimeError(f"{where} ran {len(seen)} times in one forward pass; DFR needs it to run exactly once.")
    head_input, head_output = seen[0]
    same = head_output.shape == logits.shape and torch.allclose(head_output.float(), logits.float())
    if head_input.dim() != 2 or not same:
        raise RuntimeError(
            f"The model's logits are not the output of {where} applied to one feature vector per row "
            "(is something applied after it, or is it a per-token head?); DFR cannot retrain this head."
        )


# ------------------------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class DFRRows:
    """Which held-out rows (positions in the arrays :func:`fit_dfr` got, sorted) each stage used.

    ``tune_half``: the tuning half that trains; its scaler is fitted on all of it. ``tune_train``: the
    group-balanced subsample of ``tune_half`` on which every C was trained. ``tune_score``: the other half,
    which scored every C. ``refit``: one group-balanced subsample of all held-out rows per refit; the refit's
    scaler is fitted on every held-out row.
    """

    tune_half: np.ndarray
    tune_train: np.ndarray
    tune_score: np.ndarray
    refit: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class DFRFit:
    """A fitted DFR head.

    ``coef`` ([1, d] for two classes, [n_classes, d] one-vs-rest) and ``intercept`` act on raw penultimate
    features (the standardisation is folded in): ``x @ coef.T + intercept``. ``classes``: the labels, in the
    order of ``coef``'s columns of scores (for two classes, a positive score predicts ``classes[1]``).
    ``tuning``: each C's worst-group accuracy on the scoring half, in grid order. ``group_names``: the
    distinct group ids, sorted.
    """

    c: float
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    tuning: dict[float, float]
    rows: DFRRows
    group_names: tuple[str, ...]
    seed: int

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.coef.T + self.intercept

    def predict(self, features: np.ndarray) -> np.ndarray:
        scores = self.decision_function(features)
        if len(self.classes) == 2:
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[scores.argmax(axis=1)]

    def summary(self) -> str:
        """One sentence that says which held-out rows tuned and trained this head."""
        rows = self.rows
        per_group = len(rows.tune_train) // len(self.group_names)
        refit = len(rows.refit[0]) // len(self.group_names)
        n_rows = len(rows.tune_half) + len(rows.tune_score)
        return (
            f"DFR (L1 logistic regression, C = {self.c:g} of {list(self.tuning)}): each C trained on "
            f"{len(rows.tune_train)} rows of one half of the held-out split ({len(self.group_names)} groups x "
            f"{per_group}) and scored by worst-group accuracy on the other half ({len(rows.tune_score)} rows); "
            f"refit on all {n_rows} held-out rows, the mean of {len(rows.refit)} group-balanced subsamples of "
            f"{len(rows.refit[0])} ({refit} per group); seed {self.seed}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the chosen C, the tuning curve, the groups and every stage's row indices."""
        return {
            "c": self.c,
            "tuning": {str(c): accuracy for c, accuracy in self.tuning.items()},
            "classes": self.classes.tolist(),
            "group_names": list(self.group_names),
            "seed": self.seed,
            "rows": {
                "tune_half": self.rows.tune_half.tolist(),
                "tune_train": self.rows.tune_train.tolist(),
                "tune_score": self.rows.tune_score.tolist(),
                "refit": [rows.tolist() for rows in self.rows.refit],
            },
        }


def fit_dfr(
    features: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    seed: int = 0,
    c_grid: Sequence[float] = DFR_C_GRID,
    n_refits: int = 10,
) -> DFRFit:
    """DFR's last layer for held-out ``features`` [n, d], ``labels`` [n] and ``groups`` [n].

    ``groups``: one id per row (ints or names), the label crossed with the attributes, e.g. from
    ``hf_seedcat.evaluation.metrics.group_names``; balancing and worst-group accuracy use them. The module
    docstring gives the protocol and its sources.
    """
    x, y, group_ids, names = _check_inputs(features, labels, groups, c_grid, n_refits)
    classes = np.unique(y)
    rng = np.random.default_rng(seed)

    tune_half, tune_score = _halves(group_ids, names, rng)
    tune_train = balanced_subsample(group_ids, tune_half, rng)
    scaler = StandardScaler().fit(x[tune_half])
    x_train, x_score = scaler.transform(x[tune_train]), scaler.transform(x[tune_score])
    tuning = {}
    for c in c_grid:
        coef, intercept = _fit_logistic(x_train, y[tune_train], classes, c, seed)
        predicted = _predict(x_score @ coef.T + intercept, classes)
        tuning[float(c)] = _worst_group_accuracy(predicted == y[tune_score], group_ids[tune_score])
    best = float(list(tuning)[int(np.argmax(list(tuning.values())))])  # the first of equal accuracies

    scaler = StandardScaler().fit(x)
    refit_rows, coefs, intercepts = [], [], []
    for _ in range(n_refits):
        rows = balanced_subsample(group_ids, np.arange(len(y)), rng)
        coef, intercept = _fit_logistic(scaler.transform(x[rows]), y[rows], classes, best, seed)
        refit_rows.append(rows)
        coefs.append(coef)
        intercepts.append(intercept)
    coef, intercept = np.mean(coefs, axis=0), np.mean(intercepts, axis=0)
    # w . (x - mean) / scale + b = (w / scale) . x + (b - w . mean / scale)
    raw_coef = coef / scaler.scale_
    raw_intercept = intercept - raw_coef @ scaler.mean_
    return DFRFit(
        c=best,
        coef=raw_coef,
        intercept=raw_intercept,
        classes=classes,
        tuning=tuning,
        rows=DFRRows(tune_half, tune_train, tune_score, tuple(refit_rows)),
        group_names=tuple(str(name) for name in names),
        seed=seed,
    )


def balanced_subsample(group_ids: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rows`` cut to the same count in every group (the smallest group's), drawn without replacement; sorted."""
    members = [rows[group_ids[rows] == g] for g in np.unique(group_ids[rows])]
    smallest = min(len(m) for m in members)
    return np.sort(np.concatenate([rng.choice(m, size=smallest, replace=False) for m in members]))


def _check_inputs(
    features: Any, labels: Any, groups: Any, c_grid: Sequence[float], n_refits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    groups = np.asarray(groups)
    if len(x) == 0:
        raise ValueError("fit_dfr got no held-out rows: DFR retrains the last layer on a held-out split.")
    if x.ndim != 2 or y.ndim != 1 or groups.ndim != 1 or not len(x) == len(y) == len(groups):
        raise ValueError(
            f"fit_dfr needs features [n, d], labels [n] and groups [n]; got shapes {x.shape}, {y.shape}, "
            f"{groups.shape}."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be class ids (integers); got dtype {y.dtype}.")
    if not np.isfinite(x).all():
        raise ValueError("The held-out features hold NaN or infinite values; check the model's forward pass.")
    if not c_grid or min(c_grid) <= 0:
        raise ValueError(f"c_grid must hold positive values; got {list(c_grid)}.")
    if n_refits < 1:
        raise ValueError(f"n_refits must be at least 1; got {n_refits}.")
    names, group_ids = np.unique(groups, return_inverse=True)
    group_ids = group_ids.reshape(-1)
    if len(names) < 2:
        raise ValueError(
            f"All {len(y)} held-out rows are in one group ({names.tolist()[0]!r}): DFR balances groups, so it needs "
            "at least two. Pass one id per row built from the label and the attributes (group_names)."
        )
    if len(np.unique(y)) < 2:
        raise ValueError(f"All held-out rows have label {y[0]}: a classifier needs at least two classes.")
    return x, y, group_ids, names


def _halves(group_ids: np.ndarray, names: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each group's rows shuffled and split: the first ``n // 2`` score the tuning, the rest train it."""
    counts = np.bincount(group_ids, minlength=len(names))
    too_small = [f"{names.tolist()[g]!r} ({counts[g]} row)" for g in np.flatnonzero(counts < 2)]
    if too_small:
        raise ValueError(
            f"Held-out group(s) {', '.join(too_small)} cannot be in both tuning halves: DFR tunes C on one half "
            "and scores it on the other, so every group needs at least 2 held-out rows. Hold out more rows, or "
            "drop or merge these groups."
        )
    train, score = [], []
    for g in range(len(names)):
        rows = rng.permutation(np.flatnonzero(group_ids == g))
        score.append(rows[: len(rows) // 2])
        train.append(rows[len(rows) // 2 :])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(score))


def _logistic(c: float, seed: int) -> LogisticRegression:
    """L1-penalised logistic regression with liblinear. scikit-learn 1.8 replaced ``penalty="l1"`` by
    ``l1_ratio=1``; before 1.8, ``l1_ratio`` alone would silently leave the L2 default."""
    if Version(sklearn.__version__).release[:2] >= (1, 8):
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=seed)
    return LogisticRegression(C=c, penalty="l1", solver="liblinear", random_state=seed)


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, classes: np.ndarray, c: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients [1, d] (two classes; positive = ``classes[1]``) or [K, d] (one-vs-rest) and intercepts."""
    if len(classes) == 2:
        model = _logistic(c, seed).fit(x, (y == classes[1]).astype(int))
        return model.coef_.copy(), model.intercept_.copy()
    coefs, intercepts = [], []
    for label in classes:
        model = _logistic(c, seed).fit(x, (y == label).astype(int))
        coefs.append(model.coef_[0])
        intercepts.append(model.intercept_[0])
    return np.stack(coefs), np.array(intercepts)


def _predict(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return classes[(scores[:, 0] > 0).astype(int)] if len(classes) == 2 else classes[scores.argmax(axis=1)]


def _worst_group_accuracy(correct: np.ndarray, group_ids: np.ndarray) -> float:
    return float(min(correct[group_ids == g].mean() for g in np.unique(group_ids)))


# ----------------------------------------------------------------------------------------------- apply


@torch.no_grad()
def apply_dfr(model: nn.Module, fit: DFRFit) -> nn.Module:
    """Write ``fit`` into the model's :func:`final_linear`, in place, so its argmax is DFR's prediction.

    Two classes: a binary model has one score ``s = w . x + b``; row 1 gets ``w / 2`` and row 0 ``-w / 2``
    (biases likewise), so the logits differ by ``s`` and the argmax is class 1 exactly when ``s > 0``, as the
    logistic regression predicts (a tie, ``s = 0``, gives class 0 in both). The softmax of these logits is
    the regression's probability. More classes: the one-vs-rest rows as they are (argmax of the scores; the
    softmax is then not a calibrated probability). Returns the model.
    """
    head = final_linear(model)
    classes = np.asarray(fit.classes)
    if fit.coef.shape[1] != head.in_features:
        raise ValueError(
            f"The DFR fit has {fit.coef.shape[1]} features but the model's final nn.Linear takes "
            f"{head.in_features}: fit it on this model's penultimate_features."
        )
    if not np.array_equal(classes, np.arange(head.out_features)):
        raise ValueError(
            f"The held-out rows had classes {classes.tolist()} but the model has {head.out_features} outputs: "
            "DFR cannot set the weights of a class it never saw; hold out rows of every class."
        )
    coef, intercept = fit.coef, fit.intercept
    if len(classes) == 2:
        coef, intercept = np.concatenate([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    if head.bias is None and np.any(intercept != 0):
        raise ValueError("The model's final nn.Linear has no bias, but the DFR fit has an intercept.")
    head.weight.copy_(torch.as_tensor(coef, dtype=head.weight.dtype))
    if head.bias is not None:
        head.bias.copy_(torch.as_tensor(intercept, dtype=head.bias.dtype))
    return model
