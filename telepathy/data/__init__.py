"""Datasets as normalised examples: the registry, hub/local loading and offline generators."""

from telepathy.data.loading import LocalFiles, load_examples
from telepathy.data.registry import DATASETS, DatasetSpec, Example, HubSource, get_dataset

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "Example",
    "HubSource",
    "LocalFiles",
    "get_dataset",
    "load_examples",
]
