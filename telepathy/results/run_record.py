"""Assemble run result records (schema v1) and write them only when they validate."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from telepathy.bridge import count_parameters
from telepathy.experiment.config import RunConfig
from telepathy.models.pair import LoadedPair
from telepathy.results.atomic import atomic_write_json
from telepathy.results.identity import result_id
from telepathy.results.identity import run_id as identity_run_id
from telepathy.results.provenance import collect_provenance
from telepathy.results.validate import SCHEMA_VERSION, validate_result


class InvalidResultError(RuntimeError):
    """A result record failed its own schema: a bug, never written to disk."""


def device_name(device: torch.device) -> str:
    """Human-readable device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def parameter_counts(pair: LoadedPair, bridge: torch.nn.Module | None) -> dict[str, int | None]:
    """Parameter counts taken from the modules themselves (pitfall 22).

    bridge None: a method without a bridge (0). An LM the run never loaded: null.
    """
    counts: dict[str, int | None] = {
        "bridge_trainable": 0 if bridge is None else count_parameters(bridge, trainable_only=True),
        "bridge_total": 0 if bridge is None else count_parameters(bridge),
    }
    for role, lm in (("sender", pair.sender), ("receiver", pair.receiver)):
        counts[f"{role}_total"] = None if lm is None else count_parameters(lm.model)
        counts[f"{role}_trainable"] = (
            None if lm is None else count_parameters(lm.model, trainable_only=True)
        )
    return counts


def run_id(cfg: RunConfig, kind: str, method: str = "bridge") -> str:
    """A result file's `run_id` for a run of `cfg` (results.identity builds every run id)."""
    return result_id(
        identity_run_id(
            method=method,
            protocol=cfg.protocol,
            pair=cfg.pair,
            dataset=cfg.dataset,
            seed=cfg.seed,
            architecture=cfg.bridge_architecture,
            soft_tokens=cfg.soft_tokens,
            source_layer=cfg.source_layer,
        ),
        kind,
    )


def build_record(
    *,
    kind: str,
    cfg: RunConfig,
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
    """One result record in the shape of run_result.v1.schema.json.

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
        "soft_tokens": cfg.soft_tokens,
        "source_layer": cfg.source_layer,
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
