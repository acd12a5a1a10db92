"""SeedCatConfig: every field a documented flag, every bad value a sentence naming the field."""

from __future__ import annotations

import dataclasses

import pytest
from transformers import HfArgumentParser, TrainingArguments

from hf_seedcat import SeedCatConfig

NEW_FIELDS = ["algorithm", "domain_column", "group_by", "grouping", "groups_per_domain", "regroup_steps", "dro_eta"]


def test_defaults_are_the_papers(tmp_path):
    config = SeedCatConfig(output_dir=str(tmp_path))
    assert (config.algorithm, config.domain_column, config.group_by, config.grouping) == (
        "seedcat",
        "domain",
        "domain",
        "loss_rank",
    )
    assert (config.groups_per_domain, config.regroup_steps, config.dro_eta) == (4, 1000, 0.01)
    assert isinstance(config, TrainingArguments)


def test_every_field_is_a_flag_with_help(tmp_path):
    fields = {f.name: f for f in dataclasses.fields(SeedCatConfig)}
    for name in NEW_FIELDS:
        assert fields[name].metadata.get("help"), f"{name} has no help text"
    parser = HfArgumentParser(SeedCatConfig)
    help_text = parser.format_help()
    for name in NEW_FIELDS:
        assert f"--{name}" in help_text
    (config,) = parser.parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--algorithm", "groupdro", "--groups_per_domain", "3", "--dro_eta", "0.1"]
    )
    assert (config.algorithm, config.groups_per_domain, config.dro_eta) == ("groupdro", 3, 0.1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("algorithm", "irm"),
        ("group_by", "pixel"),
        ("grouping", "no_such_grouping"),
        ("groups_per_domain", 0),
        ("regroup_steps", 0),
        ("dro_eta", -1.0),
        ("domain_column", ""),
    ],
)
def test_invalid_values_fail_naming_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        SeedCatConfig(output_dir=str(tmp_path), **{field: value})
