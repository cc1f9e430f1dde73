"""The run result record (schema v1): its one builder, writer and reader.

Owns the eval/train JSON files under results/. May import experiment/, results/ and, lazily,
the bridge (for parameter counts); torch stays out of module scope so report/ can read records
without loading it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from telepathy.results.atomic import atomic_write_json
from telepathy.results.identity import result_id
from telepathy.results.identity import run_id as identity_run_id
from telepathy.results.provenance import collect_provenance
from telepathy.results.validate import SCHEMA_VERSION, validate_result

if TYPE_CHECKING:
    import torch

    from telepathy.models.pair import LoadedPair


class RunSettings(Protocol):
    """What a record needs of a run's resolved settings: a bridge's RunConfig, or a prompting
    baseline's PromptingConfig (no bridge: no architecture, K or source layer)."""

    protocol: str
    pair: str
    dataset: str
    seed: int

    def digest(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class InvalidResultError(RuntimeError):
    """A result record failed its own schema: a bug, never written to disk."""


def device_name(device: torch.device) -> str:
    """Human-readable device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def parameter_counts(pair: LoadedPair, bridge: torch.nn.Module | None) -> dict[str, int | None]:
    """Parameter counts taken from the modules themselves (pitfall 22).

    bridge None: a method without a bridge (0). An LM the run never loaded: null.
    """
    from telepathy.bridge import count_parameters

    counts: dict[str, int | None] = {
        "bridge_trainable": 0 if bridge is None else count_parameters(bridge, trainable_only=True),
        "bridge_total": 0 if bridge is None else count_parameters(bridge),
    }
    for role, lm in (("sender", pair.sender), ("receiver", pair.receiver)):
        if lm is not None and lm.model is None:  # states read from a cache: its recorded count
            counts[f"{role}_total"], counts[f"{role}_trainable"] = lm.n_parameters, 0
            continue
        counts[f"{role}_total"] = None if lm is None else count_parameters(lm.model)
        counts[f"{role}_trainable"] = (
            None if lm is None else count_parameters(lm.model, trainable_only=True)
        )
    return counts


def run_id(cfg: RunSettings, kind: str, method: str = "bridge") -> str:
    """A result file's `run_id` for a run of `cfg` (results.identity builds every run id); a
    baseline's settings without a bridge give no architecture, K or layer (ignored then)."""
    return result_id(
        identity_run_id(
            method=method,
            protocol=cfg.protocol,
            pair=cfg.pair,
            dataset=cfg.dataset,
            seed=cfg.seed,
            architecture=getattr(cfg, "bridge_architecture", None),
            soft_tokens=getattr(cfg, "soft_tokens", None),
            source_layer=getattr(cfg, "source_layer", None),
        ),
        kind,
    )


def build_record(
    *,
    kind: str,
    cfg: RunSettings,
    pair: LoadedPair,
    bridge: torch.nn.Module | None,
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    timings: dict[str, float],
    started_at: datetime,
    ended_at: datetime,
    data: dict[str, Any],
    extra: dict[str, Any] | None = None,
    method: str = "bridge",
    method_trainable: int | None = None,
) -> dict[str, Any]:
    """One result record in the shape of run_result.v1.schema.json: every bridge, baseline and
    control result is built here.

    cfg: the run's resolved settings; a prompting baseline's (no bridge) records null K and
    source layer. pair: the LMs as loaded (a side never loaded records null counts).
    data: the data snapshot's provenance (snapshot.data_provenance).
    method_trainable: parameters the method itself trains when they are not a bridge's
    (soft prompt, LoRA adapters, probe); recorded as parameters.method_trainable.
    """
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id(cfg, kind, method),
        "kind": kind,
        "method": method,
        "protocol": cfg.protocol,
        "pair": pair.identity(),
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "soft_tokens": getattr(cfg, "soft_tokens", None),
        "source_layer": getattr(cfg, "source_layer", None),
        "hyperparameters": hyperparameters,
        "metrics": metrics,
        "timings": {k: round(float(v), 6) for k, v in timings.items()},
        "parameters": parameter_counts(pair, bridge)
        | ({} if method_trainable is None else {"method_trainable": method_trainable}),
        "provenance": collect_provenance(
            config_sha256=cfg.digest(),
            started_at=started_at,
            ended_at=ended_at,
            device=device_name(pair.device),
            data=data,
        ),
    }
    record.update(extra or {})
    return record


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Validate, then write atomically; an invalid record is a bug and is never written."""
    problems = validate_result(record)
    if problems:
        raise InvalidResultError(
            f"refusing to write {path}: the record fails its schema: " + "; ".join(problems)
        )
    atomic_write_json(path, record)


def read_run_record(path: Path) -> dict[str, Any]:
    """Read one run result record; a file that is not a JSON object names itself in the error."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"run record {path} is not valid JSON: {err}") from err
    if not isinstance(record, dict):
        raise ValueError(
            f"run record {path} holds a {type(record).__name__}, expected a JSON object"
        )
    return record


def recorded_metrics_log(record: dict[str, Any]) -> str | None:
    """The metrics log a train record names: bridges record it as `artifacts.metrics`, trained
    baselines (whose one record is the eval) as `training_curve_path`; None if neither."""
    return record.get("artifacts", {}).get("metrics") or record.get("training_curve_path")


def log_eval_summary(run_id: str, metrics: dict[str, Any], seconds: float) -> None:
    """The one-line result every evaluation (bridge or baseline) logs."""
    import logging

    logging.getLogger("telepathy").info(
        "%s: accuracy %.4f (lenient %.4f), invalid %.3f on %d items, %.1f s",
        run_id,
        metrics["accuracy"],
        metrics["accuracy_lenient"],
        metrics["invalid_rate"],
        metrics["n_examples"],
        seconds,
    )


def eval_examples_block(eval_desc: dict[str, str], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """An eval record's `eval_examples`: which split and selection, how many, and the digest of
    their ids in order (the same digest across methods means McNemar pairs the same items)."""
    from telepathy.results.provenance import ids_digest

    ids = [s["id"] for s in samples]
    return {**eval_desc, "n": len(ids), "ids_sha256": ids_digest(ids)}


def read_valid_run_record(path: Path) -> dict[str, Any]:
    """Read one run result record and check it against its schema; a malformed result is an
    error that names the file and each problem, never a silently dropped row."""
    from telepathy.results.validate import validate_file

    problems = validate_file(path)
    if problems:
        raise ValueError(f"malformed result file: {'; '.join(problems)}")
    return read_run_record(path)
