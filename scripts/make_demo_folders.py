"""Write small demo folders for a first run: ``python scripts/make_demo_folders.py demo``.

``demo/images``: DomainBed's layout ``<domain>/<class>/<image>.png`` (art, photo, sketch x cat, dog);
``demo/text``: one CSV per domain (airline, blog, imdb) with columns ``reviews`` and ``labels``.
"""

import sys
from pathlib import Path

from hf_seedcat.data_scripts.demo_folders import make_image_folder, make_text_folder


def main(root: str) -> None:
    images = make_image_folder(
        Path(root) / "images", ["art", "photo", "sketch"], ["cat", "dog"], per_class=10, size=32
    )
    text = make_text_folder(Path(root) / "text", ["airline", "blog", "imdb"], rows=40, text="reviews", label="labels")
    print(f"Wrote {images} and {text}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
