"""Training curves of merged runs: from a run's train JSON to its per-step metrics log.

`telepathy train --metrics PATH` records PATH in the train JSON as `artifacts.metrics`, written
as given on the command line, so a relative PATH is relative to the directory the train job ran
in (the Snakemake working directory), not to the train JSON. The merged table's `train_result`
is relative to that same directory (the workflow passes both), which is how `metrics_path` finds
it again from wherever the report runs. Trained baselines record `training_curve_path` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from telepathy.report.runs import in_study
from telepathy.results.metrics_log import read_metrics_log
from telepathy.results.run_record import read_run_record, recorded_metrics_log

LOGGED_TERMS = ("loss", "lm_loss", "batch_similarity")


@dataclass(frozen=True)
class TrainingCurve:
    """One run's per-step log: steps (S,), each logged term (S,), and quick evals if any."""

    run_id: str
    protocol: str
    pair: str
    dataset: str
    seed: int
    diversity_weight: float
    quick_eval_n: int | None  # items per quick eval (None: not recorded)
    steps: np.ndarray
    terms: dict[str, np.ndarray]  # LOGGED_TERMS -> (S,)
    quick_eval_steps: np.ndarray
    quick_eval_accuracy: np.ndarray  # fractions


def metrics_path(train_json: Path, recorded: str) -> Path:
    """Where the metrics log recorded in `train_json` is now (see the module docstring).

    A relative recorded path is joined to the train job's working directory: the directory
    whose trailing parts are the recorded path's folder, found from the train JSON's own place.
    """
    path = Path(recorded)
    if path.is_absolute():
        return path
    # e.g. train JSON /w/results/p/train/run/train.json, recorded results/p/train/run/m.jsonl
    # -> working directory /w.
    here = train_json.resolve().parent.parts
    folder = path.parent.parts
    if len(here) >= len(folder) and here[len(here) - len(folder) :] == folder:
        return Path(*here[: len(here) - len(folder)]) / path
    raise FileNotFoundError(
        f"{train_json} records its metrics log as {recorded!r}, relative to the directory the "
        "train job ran in, and the train JSON is not under that folder; run the report from "
        "the workflow's working directory or merge with absolute paths"
    )


def read_training_curve(row: pd.Series) -> TrainingCurve:
    """The curve of one merged-table row, read through its train JSON."""
    train_json = Path(row.train_result)
    record = read_run_record(train_json)
    recorded = recorded_metrics_log(record)
    if not recorded:
        raise ValueError(f"{train_json} names no metrics log (artifacts.metrics)")
    log_path = metrics_path(train_json, recorded)
    lines = read_metrics_log(log_path)
    if not lines:
        raise ValueError(f"{log_path} (metrics log of {row.run_id}) has no steps")
    missing = [t for t in LOGGED_TERMS if t not in lines[0]]
    if missing:
        raise ValueError(f"{log_path}: records lack {missing}; not a bridge training log")
    evals = [r for r in lines if "quick_eval_accuracy" in r]
    return TrainingCurve(
        run_id=row.run_id,
        protocol=row.protocol,
        pair=row.pair,
        dataset=row.dataset,
        seed=int(row.seed),
        diversity_weight=float(record["hyperparameters"]["diversity_weight"]),
        quick_eval_n=record["hyperparameters"].get("quick_eval_n"),
        steps=np.array([r["step"] for r in lines]),
        terms={t: np.array([r[t] for r in lines], dtype=float) for t in LOGGED_TERMS},
        quick_eval_steps=np.array([r["step"] for r in evals]),
        quick_eval_accuracy=np.array([r["quick_eval_accuracy"] for r in evals], dtype=float),
    )


def main_study_curves(runs: pd.DataFrame) -> tuple[list[TrainingCurve], list[str]]:
    """Curves of the main study's bridge runs that finished training, and the runs without one.

    A run missing only its eval still has a finished training log, so it is drawn.
    """
    rows = in_study(runs, "main")
    rows = rows[rows.method == "bridge"].sort_values(["protocol", "pair", "dataset", "seed"])
    curves, missing = [], []
    for _, row in rows.iterrows():
        if row.status in ("complete", "missing_eval") and isinstance(row.train_result, str):
            curves.append(read_training_curve(row))
        else:
            missing.append(row.run_id)
    return curves, missing
