"""DFR (hf_seedcat.dfr): each check recomputes its answer independently, with scikit-learn or the model's own
modules, from the rows the fit says it used.

The synthetic held-out split: a core feature that predicts the label with noise, a spurious feature that
equals the attribute almost exactly, and an attribute that agrees with the label in 90% of rows, so a plain
logistic regression leans on the spurious feature and fails the two minority groups.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
from helpers import make_domain_dataset, make_text_dataset, tiny_bert, tiny_model
from packaging.version import Version
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from transformers import default_data_collator

from hf_seedcat.dfr import DFR_C_GRID, apply_dfr, final_linear, fit_dfr, penultimate_features
from hf_seedcat.models import MnistCnnConfig, MnistCnnForImageClassification

MAJORITY = {(0, 0): 180, (1, 1): 180, (0, 1): 20, (1, 0): 20}
BALANCED = {key: 500 for key in MAJORITY}


def spurious_split(counts: dict[tuple[int, int], int], seed: int, noise_dims: int = 6):
    """Features [core, spurious, noise...], labels, and group names ``y=..,a=..``, one row per count."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, label) for (label, _), n in counts.items()])
    a = np.concatenate([np.full(n, attribute) for (_, attribute), n in counts.items()])
    core = (2 * y - 1) + rng.normal(0, 1.0, len(y))
    spurious = (2 * a - 1) + rng.normal(0, 0.2, len(y))
    x = np.column_stack([core, spurious, rng.normal(0, 1, (len(y), noise_dims))])
    return x, y, np.array([f"y={label},a={attribute}" for label, attribute in zip(y, a, strict=True)])


def l1_logistic(c: float, seed: int) -> LogisticRegression:
    """scikit-learn's L1 logistic regression with liblinear, spelled for the installed version."""
    if Version(sklearn.__version__).release[:2] >= (1, 8):
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=seed)
    return LogisticRegression(C=c, penalty="l1", solver="liblinear", random_state=seed)


def worst_group(predicted: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    return min((predicted == y)[groups == g].mean() for g in np.unique(groups))


def independent_refit(x, y, fit, seed: int = 0):
    """The refit again: a scaler on every held-out row, one L1 regression per ``fit.rows.refit`` subsample
    (one-vs-rest for more classes), coefficients averaged in standardised space. Returns a predictor."""
    scaler = StandardScaler().fit(x)
    models = []
    for rows in fit.rows.refit:
        base = l1_logistic(fit.c, seed)
        model = OneVsRestClassifier(base) if len(np.unique(y)) > 2 else base
        models.append(model.fit(scaler.transform(x[rows]), y[rows]))
    if len(np.unique(y)) > 2:
        coef = np.mean([np.concatenate([e.coef_ for e in m.estimators_]) for m in models], axis=0)
        intercept = np.mean([np.concatenate([e.intercept_ for e in m.estimators_]) for m in models], axis=0)
    else:
        coef = np.mean([m.coef_ for m in models], axis=0)
        intercept = np.mean([m.intercept_ for m in models], axis=0)

    def scores(features):
        return scaler.transform(np.asarray(features, dtype=np.float64)) @ coef.T + intercept

    return scores


# ------------------------------------------------------------------------------------------------- fit


def test_dfr_beats_plain_logistic_regression_on_the_worst_group():
    x, y, groups = spurious_split(MAJORITY, seed=0)
    x_test, y_test, groups_test = spurious_split(BALANCED, seed=1)
    scaler = StandardScaler().fit(x)
    plain = LogisticRegression().fit(scaler.transform(x), y)
    plain_worst = worst_group(plain.predict(scaler.transform(x_test)), y_test, groups_test)

    fit = fit_dfr(x, y, groups, seed=0)
    dfr_worst = worst_group(fit.predict(x_test), y_test, groups_test)

    assert plain_worst < 0.5  # the plain model follows the spurious feature
    assert dfr_worst > plain_worst + 0.25
    assert abs(fit.coef[0, 1]) < abs(fit.coef[0, 0])  # DFR weights the core feature more


@pytest.mark.parametrize(
    ("counts", "noise_dims", "seed", "tie"),
    [
        ({(0, 0): 60, (1, 1): 60, (0, 1): 9, (1, 0): 7}, 30, 5, False),  # the best C is inside the grid
        (MAJORITY, 6, 0, True),  # C = 1 ... 0.07 tie for the best: the first wins
    ],
)
def test_chosen_c_equals_an_independent_recomputation_on_the_named_rows(counts, noise_dims, seed, tie):
    x, y, groups = spurious_split(counts, seed=3, noise_dims=noise_dims)
    fit = fit_dfr(x, y, groups, seed=seed)
    rows = fit.rows

    scaler = StandardScaler().fit(x[rows.tune_half])
    expected = {}
    for c in DFR_C_GRID:
        model = l1_logistic(c, seed=seed).fit(scaler.transform(x[rows.tune_train]), y[rows.tune_train])
        predicted = model.predict(scaler.transform(x[rows.tune_score]))
        expected[c] = worst_group(predicted, y[rows.tune_score], groups[rows.tune_score])

    assert list(fit.tuning) == list(DFR_C_GRID)
    assert fit.tuning == pytest.approx(expected)
    assert len(set(expected.values())) > 1  # C matters here, so the choice is a real check
    best = [c for c in DFR_C_GRID if expected[c] == max(expected.values())]
    assert fit.c == best[0]
    assert (len(best) > 1) == tie


def test_multiclass_tuning_and_refit_are_one_vs_rest():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    a = rng.integers(0, 2, len(y))
    x = np.column_stack([np.eye(3)[y] * 2 + rng.normal(0, 1, (len(y), 3)), a + rng.normal(0, 0.1, len(y))])
    groups = np.array([f"y={label},a={attr}" for label, attr in zip(y, a, strict=True)])
    fit = fit_dfr(x, y, groups, seed=2, n_refits=3)

    scaler = StandardScaler().fit(x[fit.rows.tune_half])
    tuning = {}
    for c in DFR_C_GRID:
        model = OneVsRestClassifier(l1_logistic(c, seed=2)).fit(
            scaler.transform(x[fit.rows.tune_train]), y[fit.rows.tune_train]
        )
        predicted = model.predict(scaler.transform(x[fit.rows.tune_score]))
        tuning[c] = worst_group(predicted, y[fit.rows.tune_score], groups[fit.rows.tune_score])
    assert fit.tuning == pytest.approx(tuning)
    assert fit.coef.shape == (3, 4)
    np.testing.assert_allclose(fit.decision_function(x), independent_refit(x, y, fit, seed=2)(x), atol=1e-10)


def test_refit_uses_every_held_out_row_in_balanced_subsamples():
    x, y, groups = spurious_split(MAJORITY, seed=0)
    fit = fit_dfr(x, y, groups, seed=0, n_refits=4)
    rows, n = fit.rows, len(y)
    smallest = min(MAJORITY.values())

    # the halves partition the held-out rows, and each group is split n // 2 to score, the rest to train
    assert np.array_equal(np.sort(np.concatenate([rows.tune_half, rows.tune_score])), np.arange(n))
    for g in np.unique(groups):
        assert (groups[rows.tune_score] == g).sum() == (groups == g).sum() // 2
    # the tuning subsample is balanced and inside the training half
    assert set(rows.tune_train) <= set(rows.tune_half)
    assert len(set(np.unique(groups[rows.tune_train], return_counts=True)[1])) == 1
    # every refit subsample is balanced over all held-out rows: the smallest groups enter whole, both halves
    assert len(rows.refit) == 4
    for subsample in rows.refit:
        names, counts = np.unique(groups[subsample], return_counts=True)
        assert list(names) == sorted(set(groups)) and set(counts) == {smallest}
        for g in ("y=0,a=1", "y=1,a=0"):
            assert set(subsample[groups[subsample] == g]) == set(np.flatnonzero(groups == g))
    assert len({tuple(s) for s in rows.refit}) == 4  # drawn afresh each time
    # the weights are the average of independent fits on exactly those rows, standardisation folded in
    np.testing.assert_allclose(fit.decision_function(x), independent_refit(x, y, fit)(x), atol=1e-10)


def test_same_seed_same_fit_and_the_summary_names_the_rows():
    x, y, groups = spurious_split(MAJORITY, seed=0)
    first, again, other = fit_dfr(x, y, groups, seed=4), fit_dfr(x, y, groups, seed=4), fit_dfr(x, y, groups, seed=5)
    assert first.to_dict() == again.to_dict()
    np.testing.assert_array_equal(first.coef, again.coef)
    assert first.to_dict()["rows"] != other.to_dict()["rows"]
    summary = first.summary()
    assert f"each C trained on {len(first.rows.tune_train)} rows of one half" in summary
    assert f"on the other half ({len(first.rows.tune_score)} rows)" in summary
    assert f"all {len(y)} held-out rows" in summary and "10 group-balanced subsamples of 80 (20 per group)" in summary


def test_bad_held_out_splits_are_refused_with_the_fix():
    x, y, groups = spurious_split(MAJORITY, seed=0)
    with pytest.raises(ValueError, match="no held-out rows"):
        fit_dfr(x[:0], y[:0], groups[:0])
    with pytest.raises(ValueError, match="one group .'y=0,a=0'.*label and the attributes"):
        fit_dfr(x, y, np.full(len(y), "y=0,a=0"))
    lonely = np.concatenate([np.flatnonzero(groups != "y=1,a=0"), np.flatnonzero(groups == "y=1,a=0")[:1]])
    with pytest.raises(ValueError, match="'y=1,a=0' \\(1 row\\).*at least 2 held-out rows"):
        fit_dfr(x[lonely], y[lonely], groups[lonely])
    with pytest.raises(ValueError, match="shapes"):
        fit_dfr(x, y[:-1], groups)
    with pytest.raises(ValueError, match="two classes"):
        fit_dfr(x, np.zeros(len(y), dtype=int), groups)


# ---------------------------------------------------------------------------------------------- models


def test_penultimate_features_of_the_mnist_cnn_are_its_classifier_input():
    data = make_domain_dataset({"a": 30, "b": 20}, color_agrees=np.arange(50) % 2 == 0)
    model = tiny_model().train()
    features, labels = penultimate_features(model, data, default_data_collator, batch_size=16, device="cpu")
    with torch.no_grad():
        expected = model.eval().forward_features(data[:]["pixel_values"])
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, data[:]["labels"].numpy())
    assert final_linear(model) is model.classifier


def test_penultimate_features_restore_the_training_mode():
    data = make_domain_dataset({"a": 8, "b": 8})
    model = tiny_model().train()
    penultimate_features(model, data, default_data_collator, batch_size=8)
    assert model.training


def test_penultimate_features_of_bert_are_its_pooled_output_and_it_sees_only_its_inputs():
    data = make_text_dataset({"a": 20, "b": 12})
    data = data.add_column("hair", [i % 2 for i in range(len(data))]).add_column("seedcat_index", range(len(data)))
    model = tiny_bert()
    seen = []  # BERT's forward takes **kwargs, so a leaked column would not fail: record what it got
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(set(kwargs)), with_kwargs=True)
    features, labels = penultimate_features(
        model, data, default_data_collator, batch_size=8, device="cpu", attribute_columns=["hair"]
    )
    assert seen == [{"input_ids", "attention_mask"}] * 4
    with torch.no_grad():
        pooled = (
            model.eval().bert(input_ids=data[:]["input_ids"], attention_mask=data[:]["attention_mask"]).pooler_output
        )
    np.testing.assert_allclose(features, pooled.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, data[:]["labels"].numpy())
    assert final_linear(model) is model.classifier


def test_penultimate_features_of_a_timm_backbone_are_its_pre_logits():
    from hf_seedcat.models import TimmClassifierConfig, TimmForImageClassification

    torch.manual_seed(0)
    model = TimmForImageClassification(TimmClassifierConfig(backbone="test_resnet", num_channels=2, num_labels=2))
    data = make_domain_dataset({"a": 6, "b": 6})
    features, _ = penultimate_features(model, data, default_data_collator, batch_size=4)
    with torch.no_grad():
        expected = model.eval().forward_features(data[:]["pixel_values"])
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert final_linear(model) is model.backbone.fc


def _domain_groups(data) -> np.ndarray:
    return np.array(
        [f"y={y},domain={d}" for y, d in zip(data[:]["labels"].tolist(), data[:]["domain"].tolist(), strict=True)]
    )


@pytest.mark.parametrize("which", ["mnist_cnn", "bert"])
def test_after_apply_dfr_the_models_argmax_is_the_regressions_prediction(which):
    if which == "bert":
        data, model = make_text_dataset({"a": 40, "b": 24}), tiny_bert()
        inputs = {"input_ids": data[:]["input_ids"], "attention_mask": data[:]["attention_mask"]}
    else:
        data, model = make_domain_dataset({"a": 40, "b": 24}), tiny_model()
        inputs = {"pixel_values": data[:]["pixel_values"]}
    features, labels = penultimate_features(model, data, default_data_collator, batch_size=16)
    fit = fit_dfr(features, labels, _domain_groups(data), seed=0, n_refits=3)
    expected = independent_refit(features.astype(np.float64), labels, fit)(features)

    apply_dfr(model, fit)
    with torch.no_grad():
        logits = model.eval()(**inputs).logits
    assert np.abs(expected).min() > 1e-4  # no row on the boundary, where float32 and float64 may differ
    np.testing.assert_array_equal(logits.argmax(dim=1).numpy(), (expected[:, 0] > 0).astype(int))
    # the logit difference is the regression's score, so softmax gives its probability
    np.testing.assert_allclose((logits[:, 1] - logits[:, 0]).numpy(), expected[:, 0], rtol=1e-4, atol=1e-4)


def test_apply_dfr_on_three_classes_writes_the_one_vs_rest_rows():
    torch.manual_seed(0)
    model = MnistCnnForImageClassification(MnistCnnConfig(num_channels=2, num_labels=3))
    data = make_domain_dataset({"a": 45, "b": 45})
    data = data.map(lambda row, i: {"labels": i % 3}, with_indices=True)
    features, labels = penultimate_features(model, data, default_data_collator, batch_size=32)
    fit = fit_dfr(features, labels, _domain_groups(data), seed=1, n_refits=2)
    expected = independent_refit(features.astype(np.float64), labels, fit, seed=1)(features)

    apply_dfr(model, fit)
    with torch.no_grad():
        logits = model.eval()(pixel_values=data[:]["pixel_values"]).logits
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(logits.argmax(dim=1).numpy(), expected.argmax(axis=1))


def test_apply_dfr_refuses_a_fit_of_another_shape():
    x, y, groups = spurious_split(MAJORITY, seed=0)
    fit = fit_dfr(x, y, groups, n_refits=1)
    with pytest.raises(ValueError, match="8 features but the model's final nn.Linear takes 128"):
        apply_dfr(tiny_model(), fit)
    torch.manual_seed(0)
    three = MnistCnnForImageClassification(MnistCnnConfig(num_channels=2, num_labels=3))
    features = np.random.default_rng(0).normal(size=(len(y), 128))
    with pytest.raises(ValueError, match="classes \\[0, 1\\] but the model has 3 outputs"):
        apply_dfr(three, fit_dfr(features, y, groups, n_refits=1))


def test_a_model_without_a_classification_linear_is_refused():
    model = tiny_model()
    model.config.num_labels = 5
    with pytest.raises(ValueError, match="no nn.Linear with config.num_labels = 5"):
        final_linear(model)


class ScaledLogits(MnistCnnForImageClassification):
    """Logits that are not the final nn.Linear's output: DFR's weights would not be what the model applies."""

    def forward(self, pixel_values, labels=None, output_features=False):
        output = super().forward(pixel_values, labels, output_features)
        output.logits = output.logits * 2
        return output


def test_a_head_whose_output_is_not_the_logits_is_refused():
    torch.manual_seed(0)
    model = ScaledLogits(MnistCnnConfig(num_channels=2, num_labels=2))
    with pytest.raises(RuntimeError, match="logits are not the output of the final nn.Linear"):
        penultimate_features(model, make_domain_dataset({"a": 4, "b": 4}), default_data_collator, batch_size=8)
