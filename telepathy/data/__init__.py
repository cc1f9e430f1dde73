"""Datasets as normalised examples: the registry, data snapshots, row mappers, generators.

A job reads a real dataset only from its snapshot (snapshot.py), which prepare-data writes from
the hub or from hand-copied files; generated tasks come from offline.py.
"""

from telepathy.data.loading import LocalFiles, load_examples
from telepathy.data.registry import DATASETS, DatasetSpec, Example, HubSource, get_dataset
from telepathy.data.snapshot import DataSnapshot, SnapshotError, open_snapshot, write_snapshot

__all__ = [
    "DATASETS",
    "DataSnapshot",
    "DatasetSpec",
    "Example",
    "HubSource",
    "LocalFiles",
    "SnapshotError",
    "get_dataset",
    "load_examples",
    "open_snapshot",
    "write_snapshot",
]
