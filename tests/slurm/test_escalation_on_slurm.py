"""Bounded escalation on the real test cluster: a job too slow for its runtime and one too
large for its memory each finish after exactly one resubmission asking for twice as much; a job
that is too large even then stops with the message saying what to change; a Python error is
never escalated. A four-rule workflow of its own, so that it costs one run of about 3 min."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .slurmtools import SlurmCluster

pytestmark = pytest.mark.slurm

# Each rule touches its output; memory is taken with bytes that are written, not just mapped.
SNAKEFILE = """
rule all:
    input: "slow.done", "hungry.done", "greedy.done", "broken.done"

rule slow:  # 75 s of work with a 1 min limit and no checkpoint: TIMEOUT, then 2 min
    output: "slow.done"
    resources: runtime=1, mem_mb=500, slurm_signal_delay_s=10
    shell: "sleep 75 && touch {output}"

rule hungry:  # 250 MB in a 191 MiB cgroup: OUT_OF_MEMORY, then 382 MiB
    output: "hungry.done"
    resources: runtime=5, mem_mb=200
    shell: "{PYTHON} -c 'import time; b = b\\"x\\" * (250 << 20); time.sleep(2)' && touch {output}"

rule greedy:  # 1 GB: too large for the escalated request as well
    output: "greedy.done"
    resources: runtime=5, mem_mb=200
    shell: "{PYTHON} -c 'import time; b = b\\"x\\" * (1000 << 20); time.sleep(2)' && touch {output}"

rule broken:  # a code error: never escalated
    output: "broken.done"
    resources: runtime=5, mem_mb=500
    shell: "{PYTHON} -c 'raise SystemExit(3)'"
"""


def by_rule(workdir: Path) -> dict[str, list[dict]]:
    path = workdir / ".snakemake" / "submitit" / "submissions.jsonl"
    rules: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        rules.setdefault(record["rule"], []).append(record)
    return rules


def states(cluster: SlurmCluster, job_id: str) -> list[str]:
    return [row["State"].split()[0] for row in cluster.sacct([job_id], duplicates=True)]


def test_time_and_memory_limits_are_escalated_once_and_code_errors_never(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE.replace("{PYTHON}", sys.executable))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--executor", "submitit", "--jobs", "4",
         "--keep-going", "--submitit-poll-interval", "2", "--latency-wait", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    log = proc.stderr
    assert proc.returncode != 0  # greedy and broken fail
    jobs = by_rule(tmp_path)

    slow_first, slow_retry = jobs["slow"]
    # submitit stops a job that cannot checkpoint at the pre-timeout signal (FAILED in sacct,
    # its result says time limit); past the limit SLURM itself says TIMEOUT
    assert states(slurm_cluster, slow_first["slurm_id"])[-1] in ("FAILED", "TIMEOUT")
    assert f"TIMEOUT: slurm job {slow_first['slurm_id']} (rule slow)" in log
    assert slow_retry["escalation"] == "runtime 1 -> 2 min"
    assert slow_retry["escalated_from"] == slow_first["slurm_id"] and slow_retry["time_min"] == 2
    assert (tmp_path / "slow.done").exists()

    hungry_first, hungry_retry = jobs["hungry"]
    assert states(slurm_cluster, hungry_first["slurm_id"])[-1] in ("OUT_OF_MEMORY", "FAILED")
    assert hungry_retry["escalation"] == "mem 191 -> 382 MiB"
    assert (tmp_path / "hungry.done").exists()

    _, greedy_retry = jobs["greedy"]  # exactly one escalation, then the message
    assert f"OUT_OF_MEMORY: slurm job {greedy_retry['slurm_id']}" in log
    assert "raise `mem_mb` for rule greedy" in log
    assert "(after one escalation: mem 191 -> 382 MiB)" in log
    assert not (tmp_path / "greedy.done").exists()

    assert len(jobs["broken"]) == 1 and not jobs["broken"][0]["escalation"]
    assert f"slurm job {jobs['broken'][0]['slurm_id']}" in log
    assert log.count("escalated once:") == 3, log[-3000:]
