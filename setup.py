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
    package_data={"hf_seedcat": ["evaluation/group_accuracy/*.py"]},  # the local evaluate module
    python_requires=">=3.10",
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
        "safetensors",
        "numpy",
        "pillow",
    ],
    extras_require={
        "dev": ["pytest", "ruff", "matplotlib", "tensorboard"],
        "analysis": ["matplotlib"],  # the t-SNE figures of hf_seedcat.analysis
    },
)
