"""The training metrics log: one JSON record per optimiser step, written while training runs.

Written by the training loop (train.run_training, for the bridge and the trained baselines),
read by the report's training curves. Each line holds `step`, the trainee's logged terms,
`grad_norm`, `lr` and `step_time_s`, plus `quick_eval_accuracy`/`quick_eval_invalid_rate` at
steps with a quick eval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from telepathy.results.atomic import atomic_write_text


def working_metrics_path(checkpoint_path: Path) -> Path:
    """Where the metrics log grows during training: beside the resumable checkpoint."""
    return checkpoint_path.with_name(checkpoint_path.name + ".metrics.jsonl")


def start_metrics_log(checkpoint_path: Path, resumed_from: int | None) -> Path:
    """The working log, started fresh or (on resume) cut back to the checkpoint's step."""
    # The log grows beside the checkpoint, not at the run's metrics path: a job Snakemake or
    # SLURM restarts deletes its declared outputs first, and the resumed run's log must still
    # show every step from 1. publish_metrics_log copies it once training finishes.
    path = working_metrics_path(checkpoint_path)
    kept: list[str] = []
    if resumed_from is not None and path.exists():
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= resumed_from
        ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))
    return path


def publish_metrics_log(working: Path, metrics_path: Path) -> None:
    """Copy the finished working log to the run's declared metrics path, atomically."""
    atomic_write_text(metrics_path, working.read_text())


def read_metrics_log(path: Path) -> list[dict[str, Any]]:
    """Every step record of a metrics log, in order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
