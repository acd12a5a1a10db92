"""DomainBed's three selection rules and the hyperparameter choice, on hand-made results with known answers
(the rules by groups: test_group_selection.py)."""

from __future__ import annotations

import math

import pytest

from hf_seedcat.evaluation import SELECTION_METHODS, group_runs, select_trial, training_domain_validation


def record(step, test_envs, trial=0, hparams=0, algorithm="erm", **accs):
    """A results line of a 3-environment dataset; ``accs`` like ``e0o=0.5`` (env0 out) or ``e2i=0.1``."""
    line = {
        "step": step,
        "args": {
            "dataset": "Toy",
            "algorithm": algorithm,
            "test_envs": list(test_envs),
            "trial_seed": trial,
            "hparams_seed": hparams,
        },
    }
    for key, value in accs.items():
        line[f"env{key[1]}_{'in' if key[2] == 'i' else 'out'}_acc"] = value
    return line


def select(records, method, test_env=2, trial=0):
    return select_trial(group_runs(records), method, "Toy", "erm", test_env, trial)


def test_training_domain_validation_takes_the_best_mean_training_out_split():
    run = [
        record(100, [2], e0o=0.5, e1o=0.5, e2i=0.9, e2o=0.9),
        record(200, [2], e0o=0.9, e1o=0.7, e2i=0.2, e2o=0.2),  # best validation 0.8
        record(300, [2], e0o=0.6, e1o=0.8, e2i=0.3, e2o=0.3),
    ]
    chosen = select(run, "training_domain")
    assert (chosen.step, chosen.test_acc) == (200, 0.2) and chosen.val_acc == pytest.approx(0.8)


def test_training_domain_validation_breaks_ties_by_the_earliest_step_whatever_the_file_order():
    run = [
        record(300, [2], e0o=0.8, e1o=0.8, e2i=0.3, e2o=0.3),
        record(100, [2], e0o=0.8, e1o=0.8, e2i=0.1, e2o=0.1),
        record(200, [2], e0o=0.7, e1o=0.7, e2i=0.2, e2o=0.2),
    ]
    assert training_domain_validation(run, [2])["step"] == 100
    assert select(run, "training_domain").test_acc == 0.1


def test_oracle_is_the_last_step_validated_on_the_test_out_split_even_with_missing_steps():
    run = [
        record(100, [2], e0o=0.5, e1o=0.5, e2i=0.9, e2o=0.95),
        record(500, [2], e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.45),  # steps 200..400 missing
    ]
    chosen = select(run, "oracle")
    assert (chosen.step, chosen.test_acc, chosen.val_acc) == (500, 0.4, 0.45)


def test_leave_one_out_averages_the_held_out_training_environments_in_splits():
    single = [
        record(100, [2], e0o=0.5, e1o=0.5, e2i=0.11, e2o=0.1),
        record(200, [2], e0o=0.5, e1o=0.5, e2i=0.22, e2o=0.2),
        record(300, [2], e0o=0.5, e1o=0.5, e2i=0.33, e2o=0.3),
    ]
    held_out_0 = [  # test envs {0, 2}: env0's in split validates
        record(100, [0, 2], e0i=0.6, e1o=0.5),
        record(200, [0, 2], e0i=0.9, e1o=0.5),
        record(300, [0, 2], e0i=0.7, e1o=0.5),
    ]
    held_out_1 = [  # test envs {2, 1} in either order; step 200 missing here
        record(100, [2, 1], e1i=0.6, e0o=0.5),
        record(300, [2, 1], e1i=0.8, e0o=0.5),
    ]
    chosen = select(single + held_out_0 + held_out_1, "leave_one_out")
    # step 100: (0.6 + 0.6) / 2 = 0.6; step 200: missing in one run, skipped; step 300: (0.7 + 0.8) / 2 = 0.75
    assert (chosen.step, chosen.test_acc) == (300, 0.33) and chosen.val_acc == pytest.approx(0.75)
    assert select(single + held_out_0, "leave_one_out") is None  # a held-out run is missing: no selection


def test_the_hyperparameter_sample_with_the_best_validation_wins_first_on_ties():
    runs = [
        record(100, [2], hparams=0, e0o=0.6, e1o=0.6, e2i=0.1, e2o=0.1),
        record(100, [2], hparams=1, e0o=0.9, e1o=0.9, e2i=0.2, e2o=0.2),
        record(100, [2], hparams=2, e0o=0.9, e1o=0.9, e2i=0.3, e2o=0.3),
    ]
    chosen = select(runs, "training_domain")
    assert (chosen.hparams_seed, chosen.test_acc) == (1, 0.2)
    oracle = select(runs, "oracle")
    assert (oracle.hparams_seed, oracle.test_acc) == (2, 0.3)


def test_runs_made_before_sweeps_count_as_hyperparameter_sample_zero_and_unknown_methods_fail():
    line = record(100, [2], e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.4)
    del line["args"]["hparams_seed"]
    assert select([line], "oracle").hparams_seed == 0
    with pytest.raises(ValueError, match="Unknown selection method 'best'"):
        select([line], "best")
    assert set(SELECTION_METHODS) == {
        "training_domain",
        "leave_one_out",
        "oracle",
        "reference_quantile",
        "reference_errors",
        "val_worst_group",
        "val_worst_class",
    }
    assert select([line], "oracle", trial=1) is None and not math.isnan(select([line], "oracle").val_acc)
