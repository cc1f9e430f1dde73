"""`telepathy plan --calibrate`: each rule's `runtime` sized from what the same jobs really
used last time, instead of the paper's step rates times a safety factor.

From an earlier run (the executor plugin's submissions record, one sacct answer, and each
training's train.json) this module measures, per rule, how long its completed jobs ran; for
bridge training, the seconds per optimiser step per model pair (from train.json) and the
start-up around the steps (elapsed minus steps x step time), so that a run with other step
counts is sized too. The calibration asks for the longest measured job plus a margin; the
prediction for the next run uses the mean. Admins see, per rule, the over-request ratio
(used / asked) before and after. Pure: the command gathers the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telepathy.grid.resources import calibrated_minutes

TRAINING_RULE = "train_bridge"


def measure(jobs: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rule, from completed jobs: {"jobs", "asked_s", "used_s"} lists, and for training the
    per-pair step times and start-ups. Each job: rule, elapsed_s, time_min (asked), and for
    training its pair, steps and mean_step_s (from train.json)."""
    rules: dict[str, dict[str, Any]] = {}
    for job in jobs:
        row = rules.setdefault(job["rule"], {"asked_s": [], "used_s": [], "jobs": []})
        row["asked_s"].append(job["time_min"] * 60)
        row["jobs"].append((job["time_min"], job.get("pair"), job.get("steps")))
        row["used_s"].append(job["elapsed_s"])
        if job["rule"] == TRAINING_RULE and job.get("mean_step_s"):
            row.setdefault("step_s", {}).setdefault(job["pair"], []).append(job["mean_step_s"])
            overhead = job["elapsed_s"] - job["steps"] * job["mean_step_s"]
            row.setdefault("overhead_s", []).append(max(overhead, 0.0))
    return rules


def calibration(measured: Mapping[str, Mapping[str, Any]], margin: float) -> dict[str, Any]:
    """What the workflow reads (grid.resources.calibrated_minutes): per rule the longest
    measured job, or for training the slowest step per pair and the longest start-up."""
    rules: dict[str, Any] = {}
    for rule, row in measured.items():
        if "step_s" in row:
            rules[rule] = {
                "step_s": {pair: max(v) for pair, v in row["step_s"].items()},
                "overhead_s": max(row["overhead_s"]),
            }
        else:
            rules[rule] = {"job_s": max(row["used_s"])}
    return {"margin": margin, "rules": rules}


def predict(
    plan_jobs: list[Mapping[str, Any]],
    measured: Mapping[str, Mapping[str, Any]],
    calibrated: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Per rule of the coming run (`plan_jobs`: rule, gpus, asked minutes, and pair and steps
    for training): GPU-hours asked as it stands, predicted from the measurements (mean job,
    or mean start-up + steps x mean step time), and asked once calibrated; with the
    over-request ratios of the measured run before and after calibration."""
    rows: dict[str, dict[str, Any]] = {}
    for job in plan_jobs:
        rule, gpus = job["rule"], job["gpus"]
        row = rows.setdefault(
            rule,
            {
                "rule": rule,
                "jobs": 0,
                "asked_gpu_h": 0.0,
                "predicted_gpu_h": None,
                "calibrated_gpu_h": 0.0,
            },
        )
        row["jobs"] += 1
        row["asked_gpu_h"] += job["minutes"] / 60 * gpus
        minutes = calibrated_minutes(
            calibrated, rule, job["minutes"], job.get("pair"), job.get("steps")
        )
        row["calibrated_gpu_h"] += minutes / 60 * gpus
        seconds = _predicted_seconds(measured.get(rule), job)
        if seconds is not None:
            row["predicted_gpu_h"] = (row["predicted_gpu_h"] or 0.0) + seconds / 3600 * gpus
    for rule, row in rows.items():
        history = measured.get(rule)
        if history:
            used, asked = sum(history["used_s"]), sum(history["asked_s"])
            row["measured_jobs"] = len(history["used_s"])
            row["ratio_before"] = used / asked if asked else None
            again = sum(calibrated_minutes(calibrated, rule, *job) * 60 for job in history["jobs"])
            row["ratio_after"] = used / again
    return sorted(rows.values(), key=lambda r: r["rule"])


def _predicted_seconds(history: Mapping[str, Any] | None, job: Mapping[str, Any]) -> float | None:
    if not history:
        return None
    if "step_s" in history:
        rates = history["step_s"].get(job.get("pair"))
        if not rates or job.get("steps") is None:
            return None
        overhead = sum(history["overhead_s"]) / len(history["overhead_s"])
        return overhead + job["steps"] * sum(rates) / len(rates)
    return sum(history["used_s"]) / len(history["used_s"])


def format_calibration(rows: list[Mapping[str, Any]], margin: float, source: str) -> str:
    """The calibrated plan as a table: GPU-hours asked today, predicted, asked once
    calibrated; the measured run's over-request ratio (used / asked) before and after."""
    head = (
        f"{'rule':<26}{'jobs':>6}{'GPU-h asked':>13}{'predicted':>11}{'calibrated':>12}"
        f"{'used/asked':>12}{'after':>8}"
    )
    lines = [f"calibrated from {source} (margin {margin:.0%} over the longest measured job)", head]
    for row in rows:
        predicted = row["predicted_gpu_h"]
        lines.append(
            f"{row['rule']:<26}{row['jobs']:>6}{row['asked_gpu_h']:>13.3f}"
            + (f"{predicted:>11.3f}" if predicted is not None else f"{'no history':>11}")
            + f"{row['calibrated_gpu_h']:>12.3f}"
            + _ratio(row.get("ratio_before"))
            + _ratio(row.get("ratio_after"), width=8)
        )
    total = lambda key: sum(r[key] or 0.0 for r in rows)  # noqa: E731
    lines.append(
        f"{'total':<26}{sum(r['jobs'] for r in rows):>6}{total('asked_gpu_h'):>13.3f}"
        f"{total('predicted_gpu_h'):>11.3f}{total('calibrated_gpu_h'):>12.3f}"
    )
    unmeasured = [r["rule"] for r in rows if r["predicted_gpu_h"] is None]
    if unmeasured:
        lines.append(f"no history for {', '.join(unmeasured)}: their runtime stays as today")
    return "\n".join(lines)


def _ratio(value: float | None, width: int = 12) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"
