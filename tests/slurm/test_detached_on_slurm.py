"""Detached runs on the real SLURM test cluster (issue 15, point 2): `telepathy submit` puts the
Snakemake driver itself in the queue and returns; the tiny workflow finishes there. A scancel
of the driver mid-run and a second submit finish it without running finished work again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .slurmtools import SlurmCluster, run, wait_until
from .test_workflow_on_slurm import (
    environment,
    result_file,
    snakemake_command,
    submissions,
    write_config,
)

pytestmark = pytest.mark.slurm

ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
PREPARED = {"prepare_models": "results/models/tiny.json",
            "prepare_dataset": "results/data/trec/snapshot.json"}  # fmt: skip


def submit(workdir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`telepathy submit` with the profile users type (the args after `python -m snakemake`),
    and how long it took."""
    command = [sys.executable, "-m", "telepathy", "submit", "--mem-mb", "1500", "--",
               *snakemake_command(workdir)[3:]]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(command, cwd=workdir, env=environment(), capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    return proc, time.monotonic() - started


def driver_id(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return re.search(r"SLURM job (\d+)", proc.stdout)[1]


def driver_log(workdir: Path, job_id: str) -> Path:
    (log,) = (workdir / "logs" / "driver").glob(f"*-{job_id}.log")
    return log


def wait_for_the_driver(cluster: SlurmCluster, workdir: Path, job_id: str) -> str:
    """Its final state (sacct), then the end of its log, once SLURM has let it go."""

    def ended() -> str | None:
        rows = cluster.sacct([job_id])
        state = rows[0]["State"].split()[0] if rows else ""
        return state if state in ENDED else None

    state = wait_until(ended, 300, f"driver job {job_id} to end", interval_s=2)
    return state + "\n" + driver_log(workdir, job_id).read_text()[-3000:]


def cancel_drivers(ids: list[str]) -> None:
    """A failed test leaves no driver of its own running (each scancel'ed by its id)."""
    if ids:
        subprocess.run(["scancel", *ids], check=False, timeout=60)


def test_submit_returns_at_once_and_the_workflow_finishes_on_the_cluster(slurm_cluster, tmp_path):
    write_config(tmp_path, steps=3, seeds=[42])
    first, took = submit(tmp_path)
    job_id = driver_id(first)
    try:
        assert took < 20, f"submit took {took:.1f} s"
        # the log is named at once; SLURM creates it when the job starts
        log = re.search(r"tail -f (\S+)", first.stdout)[1]
        assert re.fullmatch(rf"logs/driver/\d{{8}}-\d{{6}}-{job_id}\.log", log), log
        assert f"scancel {job_id}" in first.stdout
        # a second driver of the same directory is refused while this one is queued/running
        second, _ = submit(tmp_path)
        assert second.returncode == 1 and f"driver job {job_id} of {tmp_path}" in second.stderr
        ended = wait_for_the_driver(slurm_cluster, tmp_path, job_id)
    finally:
        cancel_drivers([job_id])
    assert ended.startswith("COMPLETED"), ended
    assert "steps (100%) done" in ended
    assert (tmp_path / "results/corrected/runs.csv").exists() and (tmp_path / log).is_file()
    row = slurm_cluster.sacct([job_id], fields=("JobID", "JobName", "Partition", "AllocTRES"))[0]
    assert row["JobName"] == "telepathy-driver" and "cpu=1," in row["AllocTRES"], row


def trained(workdir: Path) -> list[int]:
    return [s for s in (42, 123) if (workdir / result_file("train", s, "train.json")).exists()]


def test_a_scancel_of_the_driver_and_a_second_submit_redo_no_finished_work(slurm_cluster, tmp_path):
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_config(tmp_path, steps=200, seeds=[42, 123])
    drivers = [driver_id(submit(tmp_path)[0])]
    try:
        wait_until(lambda: trained(tmp_path), 240, "a training result", interval_s=0.5)
        run("scancel", drivers[0])  # mid-run: evaluations, the look inside, the tables to do
        done_before = {rule for rule, path in PREPARED.items() if (tmp_path / path).exists()}
        seeds_before = trained(tmp_path)
        assert not (tmp_path / "results/corrected/runs.csv").exists()
        first_runs = {s["run_id"] for s in submissions(tmp_path)}
        # typed right after the scancel: the new driver waits for the old one to be gone
        drivers.append(driver_id(submit(tmp_path)[0]))
        ended = wait_for_the_driver(slurm_cluster, tmp_path, drivers[1])
    finally:
        cancel_drivers(drivers)
    assert ended.startswith("COMPLETED"), ended
    assert (tmp_path / "results/corrected/runs.csv").exists()
    assert done_before == set(PREPARED) and seeds_before
    first_run = [s for s in submissions(tmp_path) if s["run_id"] in first_runs]
    second_run = [s for s in submissions(tmp_path) if s["run_id"] not in first_runs]
    redone = [
        s
        for s in second_run
        if s["rule"] in done_before
        or (s["rule"] == "train_bridge" and int(s["wildcards"]["seed"]) in seeds_before)
    ]
    assert redone == [], redone
    # and what SLURM ran for this directory: one job per training run, never a second one
    # (a run still training at the scancel was adopted by the second driver, not resubmitted)
    rows = run("sacct", "-X", "-n", "-P", "-S", started, "--format=JobID,JobName,WorkDir")
    slurm_trains = sorted(
        job_id
        for job_id, name, workdir in (row.split("|") for row in rows.splitlines() if row)
        if name.startswith("train_bridge") and Path(workdir) == tmp_path
    )
    assert slurm_trains == sorted(s["slurm_id"] for s in first_run if s["rule"] == "train_bridge")
    for seed in (42, 123):
        assert (tmp_path / result_file("eval", seed, "eval.json")).exists()
