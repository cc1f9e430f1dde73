"""Data snapshots: what `prepare-data` writes, and the only data a job ever reads.

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

import fnmatch
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telepathy.data.loading import SPLITS, LocalFiles, check_label_names, load_local_split
from telepathy.data.registry import DatasetSpec, get_dataset

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


class HubFetchError(RuntimeError):
    """prepare-data could not fetch a dataset from the hub; the message says what to do."""


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


def _parquet_facts(path: Path) -> tuple[int, list[str], Any]:
    """(rows, column names, arrow schema) from a parquet file's footer, without its data."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    return handle.metadata.num_rows, list(schema.names), schema


def _read_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
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
                rows, columns, schema = _parquet_facts(path)
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
        return _read_rows(paths)

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


# ---------------------------------------------------------------------------------- writing


def _hub_token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _lfs_sha256(entry: Any) -> str | None:
    lfs = getattr(entry, "lfs", None)
    if lfs is None:
        return None
    return lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)


def _fetch_hub(spec: DatasetSpec, into: Path, revision: str | None) -> dict[str, Any]:
    """Download the split files of `spec` at a resolved commit into `into`; return the source.

    `into` mirrors the repo's paths. The real hub client does the work (HF_ENDPOINT and
    HF_TOKEN honoured), so the same code runs against the hub and the tests' stand-in.
    """
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub import constants as hub_constants

    hub = spec.hub
    assert hub is not None
    wanted = revision or hub.revision
    api = HfApi(token=_hub_token())
    where = f"{hub.path}@{wanted}"
    try:
        sha = api.dataset_info(hub.path, revision=wanted).sha
        tree = {
            entry.path: entry
            for entry in api.list_repo_tree(
                hub.path, repo_type="dataset", revision=sha, recursive=True
            )
            if hasattr(entry, "size") and not hasattr(entry, "tree_id")
        }
    except Exception as err:  # the hub raises many types; all mean the same to the user
        raise HubFetchError(
            f"could not read {where} from {hub_constants.ENDPOINT} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); on a "
            "cluster whose compute nodes have no internet, run prepare-data on the login node "
            "(slurm/README.md), or bring the files in by hand and name them in config local_data"
        ) from err
    files: dict[str, list[str]] = {}
    listed: dict[str, str | None] = {}  # repo path -> the sha256 the hub lists for it (LFS)
    for split_name in (hub.train_split, hub.eval_split):
        pattern = hub.files[split_name]
        matched = sorted(p for p in tree if fnmatch.fnmatchcase(p, pattern))
        if not matched:
            shown = ", ".join(sorted(tree)[:12]) + (", ..." if len(tree) > 12 else "")
            raise HubFetchError(
                f"{where} (commit {sha}) has no file matching {pattern!r} for split "
                f"{split_name!r}; the repo holds: {shown or '(nothing)'}"
            )
        for repo_path in matched:
            try:  # into/<repo path>: the sha256 is checked where the file is described
                hf_hub_download(
                    hub.path,
                    repo_path,
                    repo_type="dataset",
                    revision=sha,
                    local_dir=into,
                    token=_hub_token(),
                )
            except Exception as err:
                raise HubFetchError(f"could not download {repo_path} of {where}: {err}") from err
            listed[repo_path] = _lfs_sha256(tree[repo_path])
        files[split_name] = matched
    shutil.rmtree(into / ".cache", ignore_errors=True)  # hf_hub_download's local_dir metadata
    return {
        "kind": "hub",
        "repo_id": hub.path,
        "config": hub.config,
        "revision": wanted,
        "revision_sha": sha,
        "endpoint": hub_constants.ENDPOINT,
        "files": files,
        "listed_sha256": listed,
    }


def _convert_local(spec: DatasetSpec, local: LocalFiles, into: Path) -> dict[str, Any]:
    """Write hand-copied files (json, parquet, save_to_disk) as one parquet file per split."""
    assert spec.hub is not None
    files: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="telepathy-datasets-cache-") as cache:
        for split in SPLITS:
            split_name = spec.hub.split_name(split)
            table = load_local_split(spec, local, split, split_name, cache_dir=Path(cache))
            relative = f"{split_name}/0000.parquet"
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(str(into / relative))
            files[split_name] = [relative]
    return {
        "kind": "local",
        "format": local.format,
        "train": str(local.train),
        "eval": str(local.eval),
        "files": files,
    }


def _describe_split(
    spec: DatasetSpec,
    folder: Path,
    files_root: Path,
    split: str,
    relative: list[str],
    listed: dict[str, str | None],
) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """A split's manifest entry and the ClassLabel names its files carry (checked on write);
    each file's sha256 is also checked against the one the hub lists for it, if any."""
    from telepathy.data.loading import row_to_example
    from telepathy.results.provenance import file_sha256
    from telepathy.results.validate import ids_digest

    assert spec.hub is not None
    split_name = spec.hub.split_name(split)
    entries, columns, names = [], None, None
    for rel in relative:
        path = files_root / rel
        rows, file_columns, schema = _parquet_facts(path)
        if columns is not None and file_columns != columns:
            raise ValueError(f"{path}: columns {file_columns} differ from {columns}")
        columns = file_columns
        file_names = file_label_names(schema, spec.hub.label_column)
        if names is not None and file_names != names:
            raise ValueError(f"{path}: label names {file_names} differ from {names}")
        names = file_names
        digest = file_sha256(path)
        if listed.get(rel) not in (None, digest):
            raise HubFetchError(
                f"{rel} downloaded with sha256 {digest}, the hub lists {listed[rel]}; run "
                "prepare-data again"
            )
        entries.append(
            {
                "path": str((files_root / rel).relative_to(folder)),
                "sha256": digest,
                "bytes": path.stat().st_size,
                "rows": rows,
            }
        )
    # Every row through its mapper now, on the CPU node: a bad row fails here, not in a GPU job.
    rows = _read_rows([files_root / rel for rel in relative])
    uids = [row_to_example(spec, row, split_name, i).uid for i, row in enumerate(rows)]
    entry = {
        "name": split_name,
        "rows": len(rows),
        "columns": columns,
        "ids_sha256": ids_digest(uids),
        "files": entries,
    }
    return entry, names


def _generated_manifest(spec: DatasetSpec) -> dict[str, Any]:
    from telepathy.data.offline import generate
    from telepathy.results.validate import ids_digest

    assert spec.generator is not None
    splits = {}
    for split in SPLITS:
        examples = generate(spec.generator, split)
        splits[split] = {
            "name": split,
            "rows": len(examples),  # train: the default size; runs may generate more or fewer
            "columns": sorted(examples[0].fields) if examples else [],
            "ids_sha256": ids_digest([e.uid for e in examples]),
            "files": [],
        }
    return {"source": {"kind": "generated", "generator": spec.generator}, "splits": splits}


def write_snapshot(
    spec: DatasetSpec,
    folder: str | os.PathLike[str],
    *,
    local: LocalFiles | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """Write `spec`'s snapshot into `folder` (or the folder of a snapshot.json path) from the
    hub, or from `local` copies; return its manifest. The manifest goes last, so a killed run
    leaves no snapshot that looks whole."""
    from telepathy.results.atomic import atomic_write_json
    from telepathy.results.provenance import package_versions, utc_now

    folder = snapshot_folder(folder)
    if spec.generator is not None and (local is not None or revision is not None):
        raise ValueError(f"dataset {spec.name!r} is generated; it takes no local files or revision")
    if local is not None and revision is not None:
        raise ValueError("--revision applies to hub downloads, not to local files")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        manifest: dict[str, Any] = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "dataset": spec.name,
            "task_type": spec.task_type,
        }
        if spec.generator is not None:
            manifest |= _generated_manifest(spec)
            manifest |= {"label_column": None, "label_names": None, "label_names_from": None}
        else:
            assert spec.hub is not None
            staged_files = staging / FILES_DIR
            staged_files.mkdir()
            if local is None:
                source = _fetch_hub(spec, staged_files, revision)
            else:
                source = _convert_local(spec, local, staged_files)
            per_split, listed = source.pop("files"), source.pop("listed_sha256", {})
            splits, names = {}, None
            for split in SPLITS:
                split_name = spec.hub.split_name(split)
                entry, split_names = _describe_split(
                    spec, staging, staged_files, split, per_split[split_name], listed
                )
                if names is not None and split_names != names:
                    raise ValueError(
                        f"{spec.name}: the splits disagree on the label names "
                        f"({names} vs {split_names})"
                    )
                names = split_names
                splits[split] = entry
            label_names = list(names) if names is not None else _registry_names(spec)
            try:
                check_label_names(spec, label_names)
            except ValueError as err:
                raise ValueError(
                    f"{source.get('repo_id', spec.name)}: {err}; refusing to write a snapshot"
                ) from err
            manifest |= {
                "source": source,
                "label_column": spec.hub.label_column,
                "label_names": label_names,
                "label_names_from": (
                    "ClassLabel" if names is not None else ("registry" if label_names else None)
                ),
                "splits": splits,
            }
            old = folder / FILES_DIR
            if old.exists():
                shutil.rmtree(old)
            staged_files.rename(old)
        manifest["created_at"] = utc_now().isoformat()
        manifest["telepathy_version"] = package_versions().get("telepathy")
        atomic_write_json(folder / MANIFEST_NAME, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _registry_names(spec: DatasetSpec) -> list[str] | None:
    """The order integer labels are decoded in when the files carry no ClassLabel."""
    assert spec.hub is not None
    if spec.hub.label_column is None or spec.hub.class_names is None:
        return None
    return list(spec.hub.class_names)


__all__ = [
    "MANIFEST_NAME",
    "DataSnapshot",
    "HubFetchError",
    "SnapshotError",
    "data_provenance",
    "open_snapshot",
    "rebuild_command",
    "snapshot_folder",
    "write_snapshot",
]
