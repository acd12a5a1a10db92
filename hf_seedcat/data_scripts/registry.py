"""The registry of datasets by name: what a run needs to know about a dataset before building it, and the
builder that builds it.

Builders register themselves with ``@register_dataset(name, ...)`` when their module is imported;
``factory.py`` imports them all. Read ``DATASETS`` through ``hf_seedcat.data_scripts`` (or the factory), which
guarantees every built-in builder has registered; this module alone holds only those imported so far.
A spec declares only what its builder fixes whatever the data: a sweep can count ColoredMNIST's
environments, or a run pick a text model's defaults, without loading 70,000 digits or a folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .domain_dataset import DomainDataset

MODALITIES = ("image", "text")


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its builder and what is known of it without building it.

    ``None`` means "read from the data": an image folder's domains are its sub-folders, a ``hub:`` dataset's
    modality depends on its columns. The defaults (an image dataset evaluated every 100 steps) are
    ``DomainDataset``'s, so a spec that declares nothing says what its builder's dataset will say.
    """

    name: str
    builder: Callable[..., DomainDataset]
    modality: str | None = "image"  # "image" or "text": which kind of model the experiment builds
    environments: tuple[str, ...] | None = None  # the environment names, in index order, if fixed
    checkpoint_freq: int = 100  # DomainBed's CHECKPOINT_FREQ for the dataset
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None  # of one sample's pixel_values, when the builder fixes it
    attribute_columns: tuple[str, ...] = ()  # ground-truth columns kept beside the inputs, never trained on
    group_attributes: tuple[str, ...] = ()  # with the label, the groups its paper reports worst accuracy on
    split_based: bool | None = False  # published as train / validation / test splits (DomainDataset.split_based)

    def __post_init__(self) -> None:
        if self.modality is not None and self.modality not in MODALITIES:
            raise ValueError(
                f"dataset {self.name!r}: modality must be one of {MODALITIES} or None, got {self.modality!r}"
            )
        if self.checkpoint_freq < 1:
            raise ValueError(f"dataset {self.name!r}: checkpoint_freq must be a positive number of steps")
        if self.environments is not None and len(self.environments) < 2:
            raise ValueError(f"dataset {self.name!r}: a domain-generalisation dataset needs two environments or more")

    def check_built(self, data: DomainDataset) -> None:
        """Fail if the builder returned a dataset that contradicts this spec: code that trusted the spec
        (a sweep counting environments) would otherwise silently disagree with the run."""
        declared = {
            "modality": self.modality,
            "environments": None if self.environments is None else list(self.environments),
            "checkpoint_freq": self.checkpoint_freq,
            "num_classes": self.num_classes,
            "input_shape": self.input_shape,
            "split_based": self.split_based,
        }
        wrong = {
            key: (value, getattr(data, key))
            for key, value in declared.items()
            if value is not None and getattr(data, key) != value
        }
        if wrong:
            details = "; ".join(f"{key}: declared {want!r}, built {got!r}" for key, (want, got) in wrong.items())
            raise RuntimeError(
                f"dataset {self.name!r}: the builder {self.builder.__qualname__} contradicts its registration "
                f"({details}); make register_dataset({self.name!r}, ...) say what the builder builds."
            )


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    *,
    modality: str | None = "image",
    environments: Sequence[str] | None = None,
    checkpoint_freq: int = 100,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    attribute_columns: Sequence[str] = (),
    group_attributes: Sequence[str] = (),
    split_based: bool | None = False,
) -> Callable[[Callable[..., DomainDataset]], Callable[..., DomainDataset]]:
    """Decorator: make a builder reachable as ``load_domain_dataset(name, ...)``, with what it declares.

    The builder is called with ``data_dir``, ``trial_seed``, ``seed``, ``holdout_fraction`` (and
    ``max_digits`` and ``attribute_columns`` when set) plus the caller's extra keyword arguments, and returns a
    ``DomainDataset``. A builder given ``attribute_columns`` keeps those columns in every split, or fails
    naming the ones its data lacks.
    """
    spec_fields = {
        "modality": modality,
        "environments": None if environments is None else tuple(environments),
        "checkpoint_freq": checkpoint_freq,
        "num_classes": num_classes,
        "input_shape": None if input_shape is None else tuple(input_shape),
        "attribute_columns": tuple(attribute_columns),
        "group_attributes": tuple(group_attributes),
        "split_based": split_based,
    }

    def register(builder: Callable[..., DomainDataset]) -> Callable[..., DomainDataset]:
        if name in DATASETS and DATASETS[name].builder is not builder:
            raise ValueError(
                f"dataset {name!r} is already registered by {DATASETS[name].builder.__qualname__}; "
                "register yours under another name."
            )
        DATASETS[name] = DatasetSpec(name=name, builder=builder, **spec_fields)
        return builder

    return register
