"""GPU-time planning from a real dry run of the paper grid."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from snakemake_executor_plugin_submitit.plan import parse_dry_run, summarise

REPO = Path(__file__).resolve().parents[2]


def expected_train_minutes(steps: int, grad_accum: int) -> int:
    """The rule's sizing: 3x method.md's ~10 optimiser steps/s on an H100, plus 20 min."""
    return 20 + math.ceil(3 * steps * grad_accum / 10 / 60)


def test_plan_of_the_paper_grid(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "telepathy",
            "plan",
            "--json",
            str(tmp_path / "plan.json"),
            "--",
            "all_paper_tables",  # before --configfile, which takes several values
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            str(REPO / "config.yaml"),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads((tmp_path / "plan.json").read_text())
    rules = {row["rule"]: row for row in plan["rules"]}
    assert rules["train_bridge"]["jobs"] == 31 and rules["evaluate_bridge"]["jobs"] == 31
    train_minutes = (
        3 * expected_train_minutes(2000, 2)  # SST-2, 3 seeds
        + 3 * expected_train_minutes(2000, 2)  # AG News
        + 3 * expected_train_minutes(2000, 1)  # TREC
        + 4 * expected_train_minutes(3000, 1)  # Banking77, K 16/32/64/128
        + 4 * expected_train_minutes(1000, 1)  # Passkey
        + 3 * expected_train_minutes(2000, 1)  # BoolQ, PIQA, CommonsenseQA
        + expected_train_minutes(2500, 1)  # GSM8K
        + 10 * expected_train_minutes(2000, 2)  # SST-2 ablations: 4 K, 4 layers, 2 bridges
    )
    assert rules["train_bridge"]["gpu_hours"] == round(train_minutes / 60, 3) == 18.217
    assert rules["evaluate_bridge"]["gpu_hours"] == 31 * 30 / 60
    # a trained baseline asks for its bridge's training time plus 30 min of eval
    tuning_minutes = 3 * (expected_train_minutes(2000, 2) + 30) * 2 + 3 * (
        expected_train_minutes(2000, 1) + 30
    )
    assert rules["baseline_prompt_tuning"]["gpu_hours"] == tuning_minutes / 60 == 10.0
    assert rules["baseline_zero_shot_receiver"]["jobs"] == 8
    assert rules["prepare_models"]["gpu_hours"] == 0 and rules["prepare_models"]["jobs"] == 1
    assert rules["train_bridge"]["gpu_models"] == ["h100"]
    assert plan["gpu_hours"] == round(sum(row["gpu_hours"] for row in plan["rules"]), 3)
    # the figures' look inside one bridge per classification dataset: 4 GPU jobs of 20 min
    inspect = rules["inspect_bridge"]
    assert inspect["jobs"] == 4 and inspect["gpu_hours"] == round(4 * 20 / 60, 3)
    assert rules["paper_table"]["gpu_hours"] == 0  # tables and figures run on the driver
    assert "baseline_prompt_tuning_control" in proc.stdout and "106.05" in proc.stdout


SAMPLE = """
rule train_bridge:
    input: a, b
    output: c
    wildcards: protocol=dec2025, pair=paper, dataset=trec, k=16, layer=31, seed=42
    resources: tmpdir=/tmp, runtime=90, gpu=2, gpu_model=a100, slurm_partition=gpu, mem_mb=64000
[Sun Nov 22 07:32:45 2026]
localrule merge_runs:
    input: c
    resources: tmpdir=/tmp, runtime=10
Job stats:
"""


def test_parse_and_summarise_a_hand_written_dry_run():
    jobs = parse_dry_run(SAMPLE)
    assert [j["rule"] for j in jobs] == ["train_bridge", "merge_runs"]
    assert jobs[0]["wildcards"]["dataset"] == "trec"
    plan = summarise(jobs)
    assert plan["gpu_hours"] == 3.0  # 90 min x 2 GPUs
    assert plan["by_partition_and_gpu"] == [
        {"partition": "(default)", "gpu_model": "-", "jobs": 1, "gpu_hours": 0.0},
        {"partition": "gpu", "gpu_model": "a100", "jobs": 1, "gpu_hours": 3.0},
    ]
