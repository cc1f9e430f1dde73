"""Datasets as normalised examples: the registry, data snapshots, row mappers, generators and
the order training draws them in.

Owns: `registry` (every dataset: labels, label words, hub source), the data snapshot's files
(`prepare` writes them from the hub or from hand-copied files, `snapshot` opens and checks
them; a job reads a hub dataset only from its snapshot), `loading` (rows to Examples), the
generated tasks (`offline`, `synth_text`) and `batches` (the order training draws them in).

May import: nothing (beyond the foundation every wing may use: `results.atomic`,
`results.provenance`, `results.progress`).
"""

from telepathy.data.loading import LocalFiles, load_examples
from telepathy.data.prepare import write_snapshot
from telepathy.data.registry import DATASETS, DatasetSpec, Example, HubSource, get_dataset
from telepathy.data.snapshot import DataSnapshot, SnapshotError, open_snapshot

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
