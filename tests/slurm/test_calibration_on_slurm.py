"""`telepathy plan --calibrate` on the real test cluster: after the tiny workflow ran once, the
calibrated plan predicts a second run's GPU time within 25 % per rule, and that run asks SLURM
for shorter runtimes than the first."""

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

# `timing`: the cluster tests' last, alone (make test). These jobs last 5-30 s, mostly
# start-up, and sacct counts whole seconds; beside the rest of the suite on 2 cores (or first,
# with nothing read from disk yet) they ran up to 30 % longer or shorter from one run to the
# next (slurm/README.md).
pytestmark = [pytest.mark.slurm, pytest.mark.timing]
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
    errors = {rule: rows[rule]["predicted_gpu_h"] / used[rule] - 1 for rule in GPU_RULES}
    report = "; ".join(
        f"{rule}: predicted {rows[rule]['predicted_gpu_h'] * 3600:.0f} GPU-s, used "
        f"{used[rule] * 3600:.0f} ({errors[rule]:+.0%})"
        for rule in GPU_RULES
    )
    print(report)
    assert all(abs(error) <= 0.25 for error in errors.values()), report
    for rule in GPU_RULES:
        assert max(asked_minutes(second, rule)) < min(asked_minutes(first, rule)), rule
