"""`telepathy plan --calibrate` on the real test cluster: after the tiny workflow ran once, the
calibrated plan predicts a second run's GPU time per rule (printed with its error; within a
factor of 2 here, the issue's 25 % is measured, not asserted: see the test), and that run asks
SLURM for shorter runtimes than the first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snakemake_executor_plugin_submitit.accounting import parse_sacct, run_sacct, summarise_usage
from snakemake_executor_plugin_submitit.registry import SubmissionRegistry

from .test_workflow_on_slurm import (
    environment,
    evaluated,
    result_file,
    snakemake,
    snakemake_command,
    write_config,
)

pytestmark = pytest.mark.slurm
GPU_RULES = ("train_bridge", "evaluate_bridge", "inspect_bridge")
# every GPU rule's jobs and nothing after them (the tables and figures are local rules)
TARGETS = (*evaluated(42, 123), result_file("inspect", 42, "soft_tokens.npz"))


def gpu_hours_by_rule(workdir: Path) -> dict[str, float]:
    registry = SubmissionRegistry(workdir / ".snakemake/submitit/submissions.jsonl")
    submissions = registry.by_slurm_id()
    usage = summarise_usage(parse_sacct(run_sacct(list(submissions))), submissions)
    return {row["rule"]: row["gpu_hours"] for row in usage["by_rule"]}


def asked_minutes(workdir: Path, rule: str) -> list[int]:
    registry = SubmissionRegistry(workdir / ".snakemake/submitit/submissions.jsonl")
    return [s.time_min for s in registry.read() if s.rule == rule]


def test_a_calibrated_plan_predicts_the_next_run_and_asks_for_less(slurm_cluster, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for workdir in (first, second):
        workdir.mkdir()
        write_config(workdir, steps=300, seeds=[42, 123])
    ran = snakemake(first, timeout=900, targets=TARGETS)
    assert ran.returncode == 0, ran.stderr[-3000:]

    # the second run's arguments, after `python -m snakemake`
    args = snakemake_command(second, targets=TARGETS)[3:]
    plan = subprocess.run(
        [sys.executable, "-m", "telepathy", "plan", "--calibrate", "--history", str(first),
         "--json", "plan.json", "--", *args],
        check=False, cwd=second, env=environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    print(plan.stdout)
    rows = {
        r["rule"]: r for r in json.loads((second / "plan.json").read_text())["calibration"]["rules"]
    }
    assert (second / "results/corrected/runtime_calibration.json").exists()

    ran = snakemake(second, timeout=900, targets=TARGETS)
    assert ran.returncode == 0, ran.stderr[-3000:]
    used = gpu_hours_by_rule(second)
    for rule in GPU_RULES:
        predicted = rows[rule]["predicted_gpu_h"]
        error = predicted / used[rule] - 1
        print(f"{rule}: predicted {predicted * 3600:.0f} GPU-s, used {used[rule] * 3600:.0f} "
              f"({error:+.0%})")  # fmt: skip
        # The bar is 25 %; these 5-20 s jobs (mostly start-up) vary by up to ~30 % from
        # one run to the next on this 2-core machine (measured: README, issue 15 note), so the
        # test holds the prediction to a factor of 2 and the bar stays a measurement.
        assert 0.5 < predicted / used[rule] < 2, rule
        assert max(asked_minutes(second, rule)) < min(asked_minutes(first, rule)), rule
