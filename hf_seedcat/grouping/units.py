"""Units: the sets of samples that are each split into seed categories (domains, classes, or pairs)."""

from __future__ import annotations

import torch


def make_units(
    domains: torch.Tensor,
    labels: torch.Tensor,
    group_by: str,
    domain_names: list[str] | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """Map every sample to a unit id in 0..U-1 and name the units.

    Only units that occur in the data exist (the held-out test domain has no unit), numbered in sorted
    order of their domain / class ids.
    """
    if len(domains) != len(labels):
        raise ValueError(f"Got {len(domains)} domain values for {len(labels)} labels.")
    if len(domains) == 0:
        raise ValueError("The training dataset is empty: there are no domains to split into seed categories.")

    def domain_name(d: int) -> str:
        return domain_names[d] if domain_names else f"domain{d}"

    if group_by == "domain":
        keys = domains.long()
    elif group_by == "class":
        keys = labels.long()
    elif group_by == "domain_class":
        keys = domains.long() * (int(labels.max()) + 1) + labels.long()
    else:
        raise ValueError(f"group_by must be 'domain', 'class' or 'domain_class', got {group_by!r}.")
    present, units = torch.unique(keys, sorted=True, return_inverse=True)

    if group_by == "domain":
        names = [domain_name(int(d)) for d in present]
    elif group_by == "class":
        names = [f"class{int(c)}" for c in present]
    else:
        n_classes = int(labels.max()) + 1
        names = [f"{domain_name(int(k) // n_classes)}|class{int(k) % n_classes}" for k in present]
    return units, names


def split_units_by(
    units: torch.Tensor, unit_names: list[str], values: torch.Tensor, column: str
) -> tuple[torch.Tensor, list[str]]:
    """Cut every unit by the values of a known attribute: unit x value, named ``<unit>|<column>=<value>``.

    This is how GroupDRO gets the *true* groups (e.g. domain x ``color_agrees``), an upper bound that
    reads ground truth; seed categories never call it. Only pairs that occur exist, in sorted order.
    """
    values = values.long()
    if len(values) != len(units):
        raise ValueError(f"Column {column!r} has {len(values)} values for {len(units)} samples.")
    present_values = torch.unique(values, sorted=True)
    keys = units.long() * len(present_values) + torch.searchsorted(present_values, values)
    present, new_units = torch.unique(keys, sorted=True, return_inverse=True)
    names = [
        f"{unit_names[int(k) // len(present_values)]}|{column}={int(present_values[int(k) % len(present_values)])}"
        for k in present
    ]
    return new_units, names
