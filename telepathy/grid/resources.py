"""How long each job of the grid asks SLURM for: its `runtime` resource, in minutes; sized
from the paper's step rates, or from what earlier runs measured once `plan --calibrate` ran."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from telepathy.experiment.config import RunConfig
from telepathy.experiment.methods import TRAINED_METHODS
from telepathy.grid.runs import BaselineRun


def training_minutes(config: RunConfig) -> int:
    """Era B ran ~10 optimiser steps/s on an H100 with 16-32 examples per step (method.md §2.3:
    2000 steps in ~3.5 min); 3x that plus 20 min for loading two 8B models and quick evals."""
    return 20 + math.ceil(3 * config.steps * config.grad_accum / 10 / 60)


def baseline_minutes(baseline: BaselineRun) -> int:
    """Trained baselines as long as the bridge's training of the same settings plus their eval
    (LoRA's 2,000 items x 3 epochs at batch 4 take less); the rest are one pass of generation or
    feature extraction over the eval list."""
    if baseline.method in TRAINED_METHODS:
        return training_minutes(baseline.config) + 30
    return 90 if baseline.method == "text_relay" else 60


# The shortest runtime a calibration asks for: the executor plugin sends its pre-timeout signal
# 180 s before the limit (slurm_signal_delay_s) and refuses a runtime that leaves no room.
MIN_CALIBRATED_MINUTES = 5


def calibrated_minutes(
    calibration: dict[str, Any] | None,
    rule: str,
    default: int,
    pair: str | None = None,
    steps: int | None = None,
) -> int:
    """A job's `runtime` from `telepathy plan --calibrate`'s measurements of earlier runs
    (results/<protocol>/runtime_calibration.json), `default` where it measured nothing like it.

    A training job asks for its measured start-up plus `steps` at the pair's measured seconds
    per step; any other job for its rule's longest measured job; both times (1 + margin), and
    never under MIN_CALIBRATED_MINUTES.
    """
    measured = (calibration or {}).get("rules", {}).get(rule)
    if measured is None:
        return default
    if "step_s" in measured:
        step_s = measured["step_s"].get(pair or "")
        if step_s is None or steps is None:
            return default
        seconds = measured["overhead_s"] + steps * step_s
    else:
        seconds = measured["job_s"]
    return max(MIN_CALIBRATED_MINUTES, math.ceil(seconds * (1 + calibration["margin"]) / 60))


def read_calibration(path: str) -> dict[str, Any] | None:
    """The calibration `telepathy plan --calibrate` wrote, or None if there is none."""
    return json.loads(Path(path).read_text()) if os.path.exists(path) else None
