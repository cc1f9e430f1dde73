"""How long each job of the grid asks SLURM for: its `runtime` resource, in minutes."""

from __future__ import annotations

import math

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
