"""Write data snapshots (`prepare-data`): from the hub at a resolved commit, from copies a
cluster brought in by hand, or (for generated tasks) a manifest without files.

Every row goes through its mapper and every file is hashed here, on the CPU node, so a bad row
or a corrupted download fails before any GPU job; snapshot.py holds the format and its reader.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from telepathy.data.loading import SPLITS, LocalFiles, check_label_names, load_local_split
from telepathy.data.registry import DatasetSpec
from telepathy.data.snapshot import (
    FILES_DIR,
    MANIFEST_NAME,
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    file_label_names,
    parquet_facts,
    read_rows,
    snapshot_folder,
)


class HubFetchError(RuntimeError):
    """prepare-data could not fetch a dataset from the hub; the message says what to do."""


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
    from telepathy.results.provenance import file_sha256, ids_digest

    assert spec.hub is not None
    split_name = spec.hub.split_name(split)
    entries, columns, names = [], None, None
    for rel in relative:
        path = files_root / rel
        rows, file_columns, schema = parquet_facts(path)
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
    rows = read_rows([files_root / rel for rel in relative])
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
    from telepathy.results.provenance import ids_digest

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
