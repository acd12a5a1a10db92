"""The four worst-group benchmarks by name: ``--dataset Waterbirds``, ``CelebA``, ``CivilComments``, ``MultiNLI``.

Each is a Hugging Face Hub dataset loaded through the ``hub:`` path (``datasets.load_dataset(id,
revision=...)``) and laid out split-based (``hub_dataset``): train on train, select on validation, report on
test, one training unit. A preset fixes what a user would otherwise have to look up: the Hub id and revision,
which columns of the dataset card it reads, how they map to the label and the input, the split names, and the
attribute columns that, with the label, give the groups whose worst accuracy its paper reports
(``WorstGroupPreset.group_attributes``, the default evaluation groups). It checks that schema as it loads
and names what is missing.

``data_dir`` points a preset at a local copy in its Hub format instead (a snapshot of the Hub repository, or
files named as there), for offline machines and tests; the provenance still records the Hub id and revision
and adds the copy's path.

Unverified here: no machine of this project reaches the Hub, so the ids, revisions, split names and columns
below come from the dataset cards and loader code cited in each preset, not from loading them.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .checksum import dataset_provenance, rows_checksum
from .domain_dataset import SPLIT_NAMES, DomainDataset
from .hub_dataset import domain_dataset_from_splits, load_splits
from .registry import register_dataset

LABEL = "label"  # the column each preset's prepare step leaves the class in


@dataclass(frozen=True)
class WorstGroupPreset:
    """A worst-group benchmark on the Hub: where it is, what it reads, and which groups its paper reports."""

    name: str
    hub_id: str
    revision: str  # a commit where the card's schema was read; "main" where none could be read here
    card: str  # the dataset card's URL, which documents ``required_columns``
    paper: str  # where the group definition comes from
    modality: str
    num_classes: int
    input_column: str
    required_columns: tuple[str, ...]  # read from every split; a copy without one fails, naming it
    group_attributes: tuple[str, ...]  # with the label, the groups of the paper's worst-group accuracy
    attribute_columns: tuple[str, ...]  # every attribute column kept (group_attributes first)
    splits: Mapping[str, tuple[str, ...]]  # role (train/validation/test) -> the split's accepted names
    config_name: str | None = None  # the Hub configuration (subset), if the repository has several
    data_file: str | None = None  # one file holding every split in a ``split`` column (CivilComments)
    text_pair_column: str | None = None  # the second sentence of a pair (MultiNLI's hypothesis)
    checkpoint_freq: int = 300  # evaluate every N steps; the papers evaluate per epoch, this is ours
    prepare: Callable[[datasets.Dataset], datasets.Dataset] | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------- derived columns


def _add_column(table: datasets.Dataset, column: str, values: np.ndarray, feature: Any) -> datasets.Dataset:
    """``table`` with ``column`` (re)placed by ``values``."""
    if table._indices is not None:
        table = table.flatten_indices()
    if column in table.column_names:
        table = table.remove_columns(column)
    return table.add_column(column, values, feature=feature)


def _celeba_label(table: datasets.Dataset) -> datasets.Dataset:
    """Sagawa et al.'s target: ``Blond_Hair`` (a bool on the card) as the class, 0 = not blond, 1 = blond."""
    blond = np.asarray(table["Blond_Hair"], dtype=np.int64)
    return _add_column(table, LABEL, blond, datasets.ClassLabel(names=["not_blond", "blond"]))


CIVIL_COMMENTS_IDENTITIES = ("male", "female", "LGBTQ", "christian", "muslim", "other_religions", "black", "white")
TOXIC_THRESHOLD = 0.5  # WILDS: a comment or identity counts when at least half of its raters said so


def _civil_comments_columns(table: datasets.Dataset) -> datasets.Dataset:
    """WILDS' binarization: ``toxicity >= 0.5`` is the class, each identity column ``>= 0.5`` an attribute
    (0/1; a missing score counts as 0, as WILDS' pandas comparison does)."""
    toxic = _scores(table["toxicity"]) >= TOXIC_THRESHOLD
    table = _add_column(table, LABEL, toxic.astype(np.int64), datasets.ClassLabel(names=["non_toxic", "toxic"]))
    for column in ("identity_any", *CIVIL_COMMENTS_IDENTITIES):
        present = (_scores(table[column]) >= TOXIC_THRESHOLD).astype(np.int64)
        table = _add_column(table, column, present, datasets.Value("int64"))
    return table


def _scores(values: Any) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


#: Sagawa et al.'s negation words, "taken from" Gururangan et al. 2018 (arXiv:1803.02324), as listed in
#: kohpangwei/group_DRO dataset_scripts/generate_multinli.py.
NEGATION_WORDS = ("nobody", "no", "never", "nothing")
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def has_negation(hypothesis: str) -> bool:
    """group_DRO's test: a negation word among the hypothesis's words, after removing ASCII punctuation,
    lowercasing and splitting on single spaces (so "No!" counts and "not", "nowhere" do not)."""
    words = hypothesis.translate(_NO_PUNCTUATION).lower().split(" ")
    return any(word in words for word in NEGATION_WORDS)


def _multinli_columns(table: datasets.Dataset) -> datasets.Dataset:
    """Drop pairs without a gold label (-1; group_DRO drops MultiNLI's '-'), add ``negation`` (0/1)."""
    labels = np.asarray(table[LABEL], dtype=np.int64)
    if (labels < 0).any():
        table = table.select(np.flatnonzero(labels >= 0)).flatten_indices()
    negation = np.fromiter((has_negation(h or "") for h in table["hypothesis"]), dtype=np.int64, count=len(table))
    return _add_column(table, "negation", negation, datasets.Value("int64"))


# ----------------------------------------------------------------------------------------------- presets

VALIDATION_NAMES = ("validation", "val", "valid")

WORST_GROUP_PRESETS: dict[str, WorstGroupPreset] = {
    "Waterbirds": WorstGroupPreset(
        name="Waterbirds",
        # A parquet export of Sagawa et al.'s waterbird_complete95_forest2water2 (CUB birds on Places
        # backgrounds); its card (seen through its duplicate salman53/waterbirds) lists image, label
        # (landbird / waterbird), place (land / water) and bird (200 species). Split names assumed
        # train / validation / test (any of VALIDATION_NAMES is accepted).
        hub_id="grodino/waterbirds",
        revision="main",
        card="https://huggingface.co/datasets/grodino/waterbirds",
        paper="Sagawa et al. 2020, Distributionally Robust Neural Networks (Group DRO), arXiv:1911.08731: "
        "groups = label (landbird, waterbird) x place (land, water), 4 groups",
        modality="image",
        num_classes=2,
        input_column="image",
        required_columns=("image", "label", "place"),
        group_attributes=("place",),
        attribute_columns=("place",),
        splits={"train": ("train",), "validation": VALIDATION_NAMES, "test": ("test",)},
        checkpoint_freq=100,
    ),
    "CelebA": WorstGroupPreset(
        name="CelebA",
        # flwrlabs/celeba, configuration img_align+identity+attr: image, celeb_id and the 40 attributes as
        # bools, splits train / valid / test (CelebA's official partition, which Sagawa et al. use). The
        # revision is the commit whose README documents that schema.
        hub_id="flwrlabs/celeba",
        revision="2d738f56e0e7f925ea36ae7c808ea925264aacec",
        card="https://huggingface.co/datasets/flwrlabs/celeba",
        paper="Sagawa et al. 2020, Group DRO, arXiv:1911.08731: label = Blond_Hair, groups = Blond_Hair x Male, "
        "4 groups",
        modality="image",
        num_classes=2,
        input_column="image",
        required_columns=("image", "Blond_Hair", "Male"),
        group_attributes=("Male",),
        attribute_columns=("Male",),
        splits={"train": ("train",), "validation": ("valid", "validation", "val"), "test": ("test",)},
        config_name="img_align+identity+attr",
        prepare=_celeba_label,
    ),
    "CivilComments": WorstGroupPreset(
        name="CivilComments",
        # WILDS' CivilComments (all_data_with_identities.csv: comment_text, a split column train / val /
        # test, toxicity and identity scores in [0, 1]) as mirrored in shlomihod/civil-comments-wilds at the
        # commit that added the file. The repository also holds a loading script, which datasets >= 4 refuses,
        # so the CSV is read with the csv builder from its hf:// path. Columns per WILDS' loader
        # (p-lambda/wilds wilds/datasets/civilcomments_dataset.py).
        hub_id="shlomihod/civil-comments-wilds",
        revision="3fbfeca80bad0f3aec37e72fa07eff222b6e752f",
        card="https://huggingface.co/datasets/shlomihod/civil-comments-wilds",
        paper="Koh et al. 2021, WILDS, arXiv:2012.07421 (data, binarization at 0.5); groups = toxicity x "
        "identity_any (any of the identities mentioned), the coarse 4 groups; WILDS and JTT's evaluation code "
        "report the worst of 16 overlapping groups (8 identities x toxicity, identity present), which are no "
        "partition: name one identity in --attribute_columns to see its groups",
        modality="text",
        num_classes=2,
        input_column="comment_text",
        required_columns=("comment_text", "split", "toxicity", "identity_any", *CIVIL_COMMENTS_IDENTITIES),
        group_attributes=("identity_any",),
        attribute_columns=("identity_any", *CIVIL_COMMENTS_IDENTITIES),
        splits={"train": ("train",), "validation": ("val",), "test": ("test",)},
        data_file="all_data_with_identities.csv",
        prepare=_civil_comments_columns,
    ),
    "MultiNLI": WorstGroupPreset(
        name="MultiNLI",
        # nyu-mll/multi_nli: premise, hypothesis, genre, label (entailment / neutral / contradiction) and
        # parses; splits train / validation_matched / validation_mismatched. Train on train, select on
        # validation_matched, report on validation_mismatched: group_DRO's 'preset' split, not the random
        # 50/20/30 re-split of train + both dev sets behind the paper's numbers.
        hub_id="nyu-mll/multi_nli",
        revision="main",
        card="https://huggingface.co/datasets/nyu-mll/multi_nli",
        paper="Sagawa et al. 2020, Group DRO, arXiv:1911.08731: groups = label x negation (a negation word "
        "in the hypothesis: nobody, no, never, nothing), 6 groups",
        modality="text",
        num_classes=3,
        input_column="premise",
        required_columns=("premise", "hypothesis", "label"),
        group_attributes=("negation",),
        attribute_columns=("negation",),
        splits={"train": ("train",), "validation": ("validation_matched",), "test": ("validation_mismatched",)},
        text_pair_column="hypothesis",
        prepare=_multinli_columns,
    ),
}

#: Every attribute column a preset keeps: the trainer hides these from the model even when nobody names them.
ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(column for preset in WORST_GROUP_PRESETS.values() for column in preset.attribute_columns)
)


# ------------------------------------------------------------------------------------------------ loading


def load_worst_group_preset(
    preset: WorstGroupPreset,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    attribute_columns: Sequence[str] | None = None,
) -> DomainDataset:
    """The preset's splits from the Hub at ``revision`` (default: the preset's), or from ``data_dir``, checked
    against its schema, as a split-based ``DomainDataset`` keeping its attributes and ``attribute_columns``."""
    revision = revision or preset.revision
    if data_dir is not None:
        source = str(data_dir)
        loaded = _load_local(preset, Path(data_dir))
    else:
        source = f"{preset.hub_id}@{revision}"
        loaded = _load_hub(preset, revision)
    provenance = dataset_provenance(
        preset.hub_id,
        revision=revision,
        data_dir=data_dir,
        rows_checksum=rows_checksum(loaded, root=data_dir),
    )
    splits = _by_role(preset, loaded, source)
    for role, table in splits.items():
        _check_schema(preset, source, role, table)
    if preset.prepare is not None:
        splits = {role: preset.prepare(table) for role, table in splits.items()}
    named = list(dict.fromkeys([*preset.attribute_columns, *(attribute_columns or [])]))
    return domain_dataset_from_splits(
        preset.name,
        splits,
        label_column=LABEL,
        image_column=preset.input_column if preset.modality == "image" else None,
        text_column=preset.input_column if preset.modality == "text" else None,
        text_pair_column=preset.text_pair_column,
        attribute_columns=named,
        provenance=provenance,
        checkpoint_freq=preset.checkpoint_freq,
    )


def _load_hub(preset: WorstGroupPreset, revision: str) -> datasets.DatasetDict:
    if preset.data_file is not None:
        return load_splits("csv", data_files=f"hf://datasets/{preset.hub_id}@{revision}/{preset.data_file}")
    return load_splits(preset.hub_id, name=preset.config_name, revision=revision)


def _load_local(preset: WorstGroupPreset, folder: Path) -> datasets.DatasetDict:
    if not folder.is_dir():
        raise FileNotFoundError(f"{preset.name}: data_dir {folder} is not a folder; {_format_hint(preset)}")
    if preset.data_file is not None:
        path = folder / preset.data_file
        if not path.is_file():
            raise FileNotFoundError(f"{preset.name}: {folder} has no {preset.data_file}; {_format_hint(preset)}")
        return load_splits("csv", data_files=str(path))
    return load_splits(str(folder))


def _format_hint(preset: WorstGroupPreset) -> str:
    if preset.data_file is not None:
        return f"it needs {preset.data_file} as in {preset.card}."
    names = ", ".join(f"{role}: {' or '.join(names)}" for role, names in preset.splits.items())
    return f"it needs the splits of {preset.card} ({names}) as files datasets.load_dataset reads."


def _by_role(preset: WorstGroupPreset, loaded: datasets.DatasetDict, source: str) -> dict[str, datasets.Dataset]:
    """``{"train": ..., "validation": ..., "test": ...}`` from the loaded splits (or the ``split`` column)."""
    if preset.data_file is not None:
        (table,) = loaded.values()
        if "split" not in table.column_names:
            _check_schema(preset, source, "only", table)
        values = np.asarray(table["split"], dtype=object)
        present = sorted(set(values.tolist()), key=str)
        splits = {}
        for role, names in preset.splits.items():
            rows = np.flatnonzero(np.isin(values, names))
            if not len(rows):
                raise ValueError(
                    f"{preset.name}: {source} has no {role} rows (split column value {' or '.join(names)}); "
                    f"its split column holds {present}."
                )
            splits[role] = table.select(rows).flatten_indices()
        return splits
    splits, missing = {}, []
    for role in SPLIT_NAMES:
        name = next((n for n in preset.splits[role] if n in loaded), None)
        if name is None:
            missing.append(f"{role} ({' or '.join(preset.splits[role])})")
        else:
            splits[role] = loaded[name]
    if missing:
        raise ValueError(
            f"{preset.name}: {source} has no split {', '.join(missing)}; its splits are {list(loaded)}. "
            f"{_format_hint(preset)}"
        )
    return splits


def _check_schema(preset: WorstGroupPreset, source: str, role: str, table: datasets.Dataset) -> None:
    missing = [c for c in preset.required_columns if c not in table.column_names]
    if missing:
        where = "data_dir's copy" if os.path.isdir(source) else "this revision"
        raise ValueError(
            f"{preset.name}: the {role} split of {source} has no column {missing}; {preset.name} reads "
            f"{list(preset.required_columns)}, as its dataset card documents ({preset.card}), and found "
            f"{table.column_names}. Use a copy in the card's format, or a revision that has them (if {where} "
            "renamed a column, the preset must follow)."
        )


def _register(preset: WorstGroupPreset) -> None:
    def build(
        data_dir: str | None = None,
        trial_seed: int = 0,
        seed: int = 0,
        holdout_fraction: float = 0.2,
        attribute_columns: Sequence[str] | None = None,
        revision: str | None = None,
        **_: Any,
    ) -> DomainDataset:
        return load_worst_group_preset(
            preset, data_dir=data_dir, revision=revision, attribute_columns=attribute_columns
        )

    build.__doc__ = (
        f"{preset.name} from {preset.hub_id}@{preset.revision} ({preset.card}), or from data_dir (a local copy "
        f"in that format); {preset.paper}."
    )
    build.__qualname__ = f"{preset.name.lower()}_preset"
    register_dataset(
        preset.name,
        modality=preset.modality,
        checkpoint_freq=preset.checkpoint_freq,
        num_classes=preset.num_classes,
        attribute_columns=preset.attribute_columns,
        group_attributes=preset.group_attributes,
        split_based=True,
    )(build)


for _preset in WORST_GROUP_PRESETS.values():
    _register(_preset)
