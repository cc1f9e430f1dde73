"""Quota awareness on the real test cluster: with `MaxSubmitJobs=5` on the association its jobs
run under, a 20-job workflow completes, no sbatch is refused, and at no time are more than 5 of
its jobs queued or running. A workflow of its own (20 x `sleep 3`), about a minute.

The limit is set on root's association in an account of this test's own (`telepathy-quota`,
created on first use and left in place), and the workflow submits with `--submitit-account`:
SLURM counts MaxSubmitJobs per association, so the tests that share the cluster and submit
under root's default account are never refused because of it. (The plugin counts all of
root's queued jobs against the limit, so theirs only slow this test down.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .slurmtools import SlurmCluster, run

pytestmark = pytest.mark.slurm

ACCOUNT = "telepathy-quota"
LIMIT = 5
JOBS = 20
SNAKEFILE = f"""
rule all:
    input: expand("naps/{{i}}.done", i=range({JOBS}))

rule nap:
    output: "naps/{{i}}.done"
    resources: runtime=5, mem_mb=500
    shell: "sleep 3 && touch {{output}}"
"""


@pytest.fixture
def quota_account(slurm_cluster: SlurmCluster) -> Iterator[str]:
    """An account of root's whose association has MaxSubmitJobs=LIMIT, on a cluster that
    enforces it."""
    enforce = slurm_cluster.config().get("AccountingStorageEnforce", "")
    if "limits" not in enforce:
        pytest.skip(f"the cluster does not enforce limits ({enforce}): run cluster.sh up")
    mine = f"where user=root account={ACCOUNT}".split()
    if not run("sacctmgr", "-n", "-P", "show", "assoc", *mine, "format=User").strip():
        if not run("sacctmgr", "-n", "-P", "show", "account", ACCOUNT, "format=Account"):
            run("sacctmgr", "-i", "add", "account", ACCOUNT, "Description=quota test")
        run("sacctmgr", "-i", "add", "user", "root", f"account={ACCOUNT}")
    run("sacctmgr", "-i", "modify", "user", *mine, "set", f"MaxSubmitJobs={LIMIT}")
    yield ACCOUNT


def most_at_once(rows: list[dict[str, str]]) -> int:
    """The most jobs queued or running at one moment, from sacct's Submit and End times.
    A job submitted in the second another ended is not counted with it: the driver submits
    only after it saw that one end."""
    events = sorted(
        [(row["End"], 0) for row in rows] + [(row["Submit"], 1) for row in rows]
    )  # ISO times sort as strings; at equal times ends (0) come first
    most = current = 0
    for _, starts in events:
        current += 1 if starts else -1
        most = max(most, current)
    return most


def test_a_workflow_larger_than_max_submit_jobs_completes_without_refusals(
    slurm_cluster, quota_account, tmp_path
):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--executor", "submitit", "--jobs", str(JOBS),
         "--submitit-account", quota_account, "--submitit-poll-interval", "2",
         "--latency-wait", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    log = proc.stderr
    assert "job submit limit" not in log and "MaxSubmitJobLimit" not in log, log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    assert all((tmp_path / "naps" / f"{i}.done").exists() for i in range(JOBS))
    assert f"MaxSubmitJobs={LIMIT}" in log, log[-3000:]  # it said why it waited

    submissions = tmp_path / ".snakemake" / "submitit" / "submissions.jsonl"
    ids = [json.loads(line)["slurm_id"] for line in submissions.read_text().splitlines()]
    assert len(ids) == JOBS
    rows = slurm_cluster.sacct(
        sorted({i.split("_")[0] for i in ids}), fields=("JobID", "Submit", "End", "State")
    )
    rows = [row for row in rows if row["JobID"] in ids]
    assert len(rows) == JOBS and {row["State"] for row in rows} == {"COMPLETED"}, rows
    assert most_at_once(rows) <= LIMIT, rows


def test_most_at_once_counts_overlaps():
    rows = [
        {"Submit": "T1", "End": "T3"},
        {"Submit": "T2", "End": "T4"},
        {"Submit": "T3", "End": "T5"},  # submitted as the first ended: not three at once
    ]
    assert most_at_once(rows) == 2
