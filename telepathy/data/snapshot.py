"""Data snapshots: the only data a job ever reads, opened and checked here (prepare.py writes
them, for `prepare-data`).

A snapshot is a folder: `snapshot.json` (the manifest, written last) and, under `files/`, the
parquet files of the two splits a protocol uses: downloaded from the hub at a resolved commit
(the repo's own paths kept), or converted from copies a cluster brought in by hand
(`local_data`). The manifest records the source (repo id, config, revision and its commit sha),
each file's sha256, bytes and rows, each split's columns and eval-id digest, and the label names
in order.

Why not the `datasets` cache: a job that reloads a `data_files` hub load offline computes a
different cache id than the one stored online and fails (hub-readiness.md F1, datasets#7551),
and a node without a route out spends ~25 s per load in retries first. A snapshot is plain
files, verified on every read (present, row count, label order, sha256), so a job either reads
exactly what prepare-data saw or stops with the file named and the command that rebuilds it.
Generated tasks (synth_*, passkey) are code: their snapshot is a manifest without files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telepathy.data.loading import SPLITS, check_label_names
from telepathy.data.registry import get_dataset

log = logging.getLogger(__name__)

MANIFEST_NAME = "snapshot.json"
SNAPSHOT_FORMAT = "telepathy-data-snapshot"
SNAPSHOT_VERSION = 1
FILES_DIR = "files"
SOURCES = ("hub", "local", "generated")
# The schema metadata key under which `datasets` stores a parquet file's features (ClassLabel
# names among them); the hub's parquet exports and push_to_hub files both carry it.
FEATURES_KEY = b"huggingface"


class SnapshotError(ValueError):
    """A data snapshot is missing, corrupted, or not the one a job asked for."""


def rebuild_command(dataset: str, folder: Path) -> str:
    """The command that (re)writes a dataset's snapshot in `folder`."""
    return f"telepathy prepare-data --dataset {dataset} --snapshot {folder}"


def _problem(folder: Path, dataset: str, text: str) -> SnapshotError:
    return SnapshotError(
        f"data snapshot {folder}: {text}; rebuild it with `{rebuild_command(dataset, folder)}`"
    )


def snapshot_folder(path: str | os.PathLike[str]) -> Path:
    """A snapshot's folder from the folder itself or its snapshot.json."""
    path = Path(path)
    return path.parent if path.name == MANIFEST_NAME else path


# ---------------------------------------------------------------------------------- parquet


def file_label_names(schema: Any, column: str | None) -> tuple[str, ...] | None:
    """The ClassLabel names a parquet file's `datasets` metadata gives `column`, else None."""
    if column is None:
        return None
    raw = (schema.metadata or {}).get(FEATURES_KEY)
    if not raw:
        return None
    features = json.loads(raw).get("info", {}).get("features", {})
    feature = features.get(column) if isinstance(features, dict) else None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
        return tuple(feature["names"])
    return None


def parquet_facts(path: Path) -> tuple[int, list[str], Any]:
    """(rows, column names, arrow schema) from a parquet file's footer, without its data."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    return handle.metadata.num_rows, list(schema.names), schema


def read_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every row of the given parquet files, in order, as dicts."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += pq.read_table(path).to_pylist()
    return rows


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DataSnapshot:
    """An opened snapshot: its folder and manifest. Files are verified when a split is read."""

    folder: Path
    manifest: Mapping[str, Any]
    manifest_sha256: str

    @property
    def dataset(self) -> str:
        return str(self.manifest["dataset"])

    @property
    def source(self) -> Mapping[str, Any]:
        return self.manifest["source"]

    def split(self, split: str) -> Mapping[str, Any]:
        """The manifest entry of a protocol split ("train" | "eval")."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
        return self.manifest["splits"][split]

    def rows(self, split: str) -> list[dict[str, Any]]:
        """Every row of one split, after checking each of its files against the manifest."""
        from telepathy.results.provenance import file_sha256

        entry = self.split(split)
        label_names = self.manifest.get("label_names")
        paths = []
        for item in entry["files"]:
            path = self.folder / item["path"]
            if not path.is_file():
                raise self._problem(f"file {path} is missing")
            try:
                rows, columns, schema = parquet_facts(path)
            except Exception as err:  # pyarrow raises several types for a damaged file
                raise self._problem(f"file {path} is not a readable parquet file ({err})") from err
            if rows != item["rows"]:
                raise self._problem(
                    f"file {path} has {rows} rows, the manifest says {item['rows']}"
                )
            if columns != entry["columns"]:
                raise self._problem(
                    f"file {path} has columns {columns}, the manifest says {entry['columns']}"
                )
            names = file_label_names(schema, self.manifest.get("label_column"))
            if names is not None and label_names is not None and list(names) != label_names:
                raise self._problem(
                    f"file {path} orders the {self.manifest['label_column']!r} labels as "
                    f"{list(names)}, the manifest as {label_names}: gold labels would be remapped"
                )
            digest = file_sha256(path)
            if digest != item["sha256"]:
                raise self._problem(
                    f"file {path} has sha256 {digest}, the manifest says {item['sha256']}"
                )
            paths.append(path)
        return read_rows(paths)

    def provenance(self) -> dict[str, Any]:
        """The `provenance.data` block of a result file: which data, at which revision."""
        source = self.source
        block = {
            "dataset": self.dataset,
            "source": source["kind"],
            "repo_id": source.get("repo_id"),
            "config": source.get("config"),
            "revision": source.get("revision"),
            "revision_sha": source.get("revision_sha"),
            "snapshot": str(self.folder),
            "manifest_sha256": self.manifest_sha256,
        }
        if "generator" in source:
            block["generator"] = source["generator"]
        return block

    def _problem(self, text: str) -> SnapshotError:
        return _problem(self.folder, self.dataset, text)


def open_snapshot(path: str | os.PathLike[str], dataset: str | None = None) -> DataSnapshot:
    """Open a snapshot folder (or its snapshot.json) and check its manifest; with `dataset`,
    also that it is that dataset's, with the label order the registry expects."""
    import hashlib

    folder = snapshot_folder(path)
    name = dataset or folder.name
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise _problem(folder, name, f"no {MANIFEST_NAME} (the snapshot was never written)")
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as err:
        raise _problem(folder, name, f"{manifest_path} is not valid JSON ({err})") from err
    if manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("version") != SNAPSHOT_VERSION:
        raise _problem(
            folder,
            name,
            f"{manifest_path} is not a version-{SNAPSHOT_VERSION} {SNAPSHOT_FORMAT} manifest "
            f"(format {manifest.get('format')!r}, version {manifest.get('version')!r})",
        )
    if dataset is not None and manifest["dataset"] != dataset:
        raise _problem(
            folder, dataset, f"it holds dataset {manifest['dataset']!r}, not {dataset!r}"
        )
    snapshot = DataSnapshot(folder, manifest, hashlib.sha256(raw).hexdigest())
    spec = get_dataset(manifest["dataset"])
    expected = "generated" if spec.generator is not None else ("hub", "local")
    if manifest["source"]["kind"] not in expected:
        raise snapshot._problem(
            f"its source is {manifest['source']['kind']!r}; dataset {spec.name!r} needs "
            f"{expected!r}"
        )
    try:
        check_label_names(spec, manifest.get("label_names"))
    except ValueError as err:
        raise snapshot._problem(str(err)) from err
    return snapshot


def data_provenance(dataset: str, snapshot: DataSnapshot | None) -> dict[str, Any]:
    """`provenance.data` of a run: its snapshot's, or (a generated task run without one) the
    generator's name; a real dataset is only ever read through a snapshot."""
    if snapshot is not None:
        return snapshot.provenance()
    spec = get_dataset(dataset)
    if spec.generator is None:
        raise ValueError(f"dataset {dataset!r} was not read from a data snapshot")
    return {
        "dataset": dataset,
        "source": "generated",
        "repo_id": None,
        "config": None,
        "revision": None,
        "revision_sha": None,
        "snapshot": None,
        "manifest_sha256": None,
        "generator": spec.generator,
    }


__all__ = [
    "MANIFEST_NAME",
    "DataSnapshot",
    "SnapshotError",
    "data_provenance",
    "open_snapshot",
    "rebuild_command",
    "snapshot_folder",
]


def describe_source(source: dict[str, Any]) -> str:
    """A snapshot manifest's `source` block in one phrase, for logs."""
    if source["kind"] == "hub":
        return f"{source['repo_id']}@{source['revision']} (commit {source['revision_sha']})"
    if source["kind"] == "local":
        return f"local {source['format']} files"
    return f"generator {source['generator']}"
