"""One run identity: the name every result file, the merged table and the tables give a run.

A bridge run is (protocol, pair, dataset, architecture, K, source layer, seed) and a baseline
run (method, protocol, pair, dataset, seed): exactly what its result folder is named by, so two
different runs of one grid never share an id (the linear, MLP and Perceiver ablation points
once did, when the id left out the architecture). A result file's `run_id` is its run's id
plus `/train` or `/eval`. `validate-results` and the merge refuse two files with one id.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Result files name two methods longer than the grid and its tables do.
RECORD_METHOD_NAMES = {"noise_soft_tokens": "noise", "linear_probe": "probe"}
# Bridge results from before the architecture was a setting are Perceivers (config.LATER_SETTINGS).
DEFAULT_ARCHITECTURE = "perceiver"


def run_id(
    *,
    method: str,
    protocol: str,
    pair: str,
    dataset: str,
    seed: int,
    architecture: str | None = None,
    soft_tokens: int | None = None,
    source_layer: int | None = None,
) -> str:
    """The id of one run; a bridge needs its architecture, K and source layer."""
    method = RECORD_METHOD_NAMES.get(method, method)
    if method != "bridge":
        return f"{method}/{protocol}/{pair}/{dataset}/seed{seed}"
    missing = [
        name
        for name, value in (
            ("architecture", architecture),
            ("soft_tokens", soft_tokens),
            ("source_layer", source_layer),
        )
        if value is None
    ]
    if missing:
        raise ValueError(f"a bridge run's id needs {', '.join(missing)}")
    return (
        f"bridge/{protocol}/{pair}/{dataset}/{architecture}/k{soft_tokens}/l{source_layer}"
        f"/seed{seed}"
    )


def result_id(run: str, kind: str) -> str:
    """A result file's `run_id`: its run's id and whether it is the train or the eval record."""
    return f"{run}/{kind}"


def record_run_id(record: Mapping[str, Any]) -> str:
    """The run id a result record's own fields give (its `run_id` must end in it)."""
    architecture = None
    if record["method"] == "bridge":
        architecture = record["hyperparameters"].get("bridge_architecture", DEFAULT_ARCHITECTURE)
    return run_id(
        method=record["method"],
        protocol=record["protocol"],
        pair=record["pair"]["name"],
        dataset=record["dataset"],
        seed=record["seed"],
        architecture=architecture,
        soft_tokens=record.get("soft_tokens"),
        source_layer=record.get("source_layer"),
    )


def check_record_id(record: Mapping[str, Any]) -> list[str]:
    """[] when the record's `run_id` is the one its fields give, else the problem."""
    try:
        expected = result_id(record_run_id(record), record["kind"])
    except ValueError as err:
        return [f"run_id: {err}"]
    if record["run_id"] != expected:
        return [f"run_id: {record['run_id']!r}, but the record's fields give {expected!r}"]
    return []


def duplicate_ids(records: Mapping[Path, Mapping[str, Any]]) -> dict[str, list[Path]]:
    """Every `run_id` that more than one file carries, with those files (sorted)."""
    by_id: dict[str, list[Path]] = {}
    for path, record in records.items():
        by_id.setdefault(str(record.get("run_id")), []).append(path)
    return {rid: sorted(paths) for rid, paths in sorted(by_id.items()) if len(paths) > 1}


def duplicate_message(rid: str, paths: list[Path]) -> str:
    """What a merge or validate-results says about one id carried by several files."""
    return (
        f"run_id {rid!r} is carried by {len(paths)} files: "
        f"{', '.join(str(p) for p in paths)}; each run has one result of each kind"
    )
