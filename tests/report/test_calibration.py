"""`telepathy plan --calibrate`, the pure part: runtimes sized from measured jobs (training
from its step rate per pair), what the workflow then asks for, the prediction for the next
run and the over-request ratios. On the real cluster: tests/slurm/test_calibration_on_slurm.py."""

from __future__ import annotations

import pytest

from telepathy.grid import calibrated_minutes
from telepathy.report.calibration import calibration, format_calibration, measure, predict

HISTORY = [
    {"rule": "train_bridge", "elapsed_s": 100, "time_min": 28, "pair": "tiny", "steps": 200,
     "mean_step_s": 0.3},
    {"rule": "train_bridge", "elapsed_s": 120, "time_min": 28, "pair": "tiny", "steps": 200,
     "mean_step_s": 0.35},
    {"rule": "evaluate_bridge", "elapsed_s": 40, "time_min": 30},
    {"rule": "evaluate_bridge", "elapsed_s": 50, "time_min": 30},
]  # fmt: skip


def test_training_is_sized_from_its_step_rate_and_start_up_and_other_rules_from_their_longest():
    cal = calibration(measure(HISTORY), margin=0.25)
    assert cal["rules"]["train_bridge"] == {"step_s": {"tiny": 0.35}, "overhead_s": 50.0}
    assert cal["rules"]["evaluate_bridge"] == {"job_s": 50}
    # 50 s + 200 x 0.35 s = 120 s, x 1.25 = 150 s -> 3 min, but never under 5 (the plugin's
    # pre-timeout signal comes 3 min before the end); 2,000 steps -> 15.6 min -> 16
    assert calibrated_minutes(cal, "train_bridge", 28, "tiny", 200) == 5
    assert calibrated_minutes(cal, "train_bridge", 28, "tiny", 2000) == 16
    assert calibrated_minutes(cal, "evaluate_bridge", 30) == 5  # 62.5 s
    # what it did not measure keeps today's request
    assert calibrated_minutes(cal, "train_bridge", 28, "paper", 200) == 28
    assert calibrated_minutes(cal, "benchmark_latency", 60) == 60
    assert calibrated_minutes(None, "evaluate_bridge", 30) == 30


def test_the_prediction_uses_the_mean_and_shows_the_over_request_before_and_after():
    measured = measure(HISTORY)
    cal = calibration(measured, margin=0.25)
    coming = [
        {"rule": "train_bridge", "gpus": 1, "minutes": 28, "pair": "tiny", "steps": 200},
        {"rule": "evaluate_bridge", "gpus": 1, "minutes": 30},
        {"rule": "benchmark_latency", "gpus": 1, "minutes": 60},
    ]
    rows = {r["rule"]: r for r in predict(coming, measured, cal)}
    train = rows["train_bridge"]
    # mean start-up (40 + 50) / 2 = 45 s plus 200 x 0.325 s
    assert train["predicted_gpu_h"] == pytest.approx((45 + 200 * 0.325) / 3600)
    assert train["asked_gpu_h"] == pytest.approx(28 / 60)
    assert train["calibrated_gpu_h"] == pytest.approx(5 / 60)
    assert train["ratio_before"] == pytest.approx(220 / (2 * 28 * 60))
    assert train["ratio_after"] == pytest.approx(220 / (2 * 5 * 60))
    assert rows["evaluate_bridge"]["predicted_gpu_h"] == pytest.approx(45 / 3600)
    assert rows["benchmark_latency"]["predicted_gpu_h"] is None
    text = format_calibration(list(rows.values()), 0.25, "history")
    assert "no history for benchmark_latency: their runtime stays as today" in text
