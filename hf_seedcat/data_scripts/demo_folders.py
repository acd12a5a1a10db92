"""Small synthetic folders in the layouts ImageFolder and TextFolder read, for smoke runs and tests.

``python scripts/make_demo_folders.py DIR`` writes ``DIR/images`` (3 domains x 2 classes of PNGs) and
``DIR/text`` (3 CSV files), enough for a 20-step run of each path on a fresh checkout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_image_folder(
    root: Path, domains: list[str], classes: list[str], per_class: int = 3, size: int = 12, seed: int = 0
) -> Path:
    """``root/<domain>/<class>/<i>.png``; class k is brighter in channel k, so a model can learn it."""
    generator = np.random.default_rng(seed)
    for domain in domains:
        for k, name in enumerate(classes):
            folder = root / domain / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = generator.integers(0, 100, (size, size, 3), dtype=np.uint8)
                pixels[..., k % 3] += 150
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def make_text_folder(root: Path, domains: list[str], rows: int = 12, text: str = "text", label: str = "label") -> Path:
    """``root/<domain>.csv`` with a positive or negative sentence per row."""
    root.mkdir(parents=True, exist_ok=True)
    words = {0: ["awful", "bad", "terrible"], 1: ["great", "good", "lovely"]}
    for d, domain in enumerate(domains):
        lines = [f"{text},{label}"]
        for i in range(rows):
            y = (i + d) % 2
            lines.append(f'"the {domain} was {words[y][i % 3]}, {i}",{y}')
        (root / f"{domain}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
