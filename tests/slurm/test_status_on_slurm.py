"""`telepathy status` on the real test cluster, mid-run, after a SIGKILL of the driver, and after
the run: runs per state right, GPU-hours equal to sacct's, one SLURM query per call.

The tiny workflow with four seeds: seed 42 trained and evaluated first (done); then the other
three trainings go out as one array on the `gpu` partition, whose two GPUs run two at once
(the third waits). The test holds the waiting one (pending; root's hold is an admin's, and the
driver must name it at once) and cancels one running one (failed): one run per state.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .slurmtools import SlurmCluster, run, wait_until
from .test_workflow_on_slurm import (
    environment,
    evaluated,
    snakemake,
    snakemake_command,
    start_snakemake,
    submissions,
    submitted,
    write_config,
)

pytestmark = pytest.mark.slurm
STEPS = 1500  # the two running trainings must outlast both mid-run status calls
SLURM_COMMANDS = ("sacct", "squeue", "sinfo", "scontrol", "sbatch", "scancel", "sacctmgr", "sdiag")


def counting_path(workdir: Path) -> tuple[dict[str, str], Path]:
    """An environment whose SLURM commands log each call to a file, then run the real one."""
    shims, calls = workdir / "shims", workdir / "slurm_calls.log"
    shims.mkdir(exist_ok=True)
    for name in SLURM_COMMANDS:
        real = shutil.which(name)
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexec {real} "$@"\n')
        shim.chmod(0o755)
    env = environment()
    env["PATH"] = f"{shims}:{env['PATH']}"
    return env, calls


def status(workdir: Path) -> tuple[dict, list[str]]:
    """`telepathy status --json` with the run's arguments, and the SLURM calls it made."""
    env, calls = counting_path(workdir)
    calls.write_text("")
    args = snakemake_command(workdir)[3:]  # after `python -m snakemake`
    out = workdir / "status.json"
    proc = subprocess.run(
        [sys.executable, "-m", "telepathy", "status", "--json", str(out), "--", *args],
        check=False, cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    return json.loads(out.read_text()), calls.read_text().splitlines()


def new_trainings(workdir: Path) -> list[dict] | None:
    """The three trainings after seed 42's, once all are submitted."""
    trains = submitted(workdir, "train_bridge")
    return trains[1:] if len(trains) == 4 else None


def submitted_ids(workdir: Path) -> list[str]:
    return [s["slurm_id"] for s in submissions(workdir)]


def sacct_gpu_hours(cluster: SlurmCluster, ids: list[str]) -> float:
    rows = cluster.sacct(sorted({i.split("_")[0] for i in ids}), duplicates=True,
                         fields=("JobID", "ElapsedRaw", "AllocTRES"))  # fmt: skip
    gpus = lambda tres: 1 if "gres/gpu=1" in tres else 2 if "gres/gpu=2" in tres else 0  # noqa: E731
    return sum(int(r["ElapsedRaw"]) * gpus(r["AllocTRES"]) for r in rows) / 3600


def test_status_counts_each_state_and_gpu_hours_with_one_query(slurm_cluster, tmp_path):
    write_config(tmp_path, steps=STEPS, seeds=[42])
    first = snakemake(tmp_path, timeout=900, targets=evaluated(42))  # seed 42's run: done
    assert first.returncode == 0, first.stderr[-3000:]
    write_config(tmp_path, steps=STEPS, seeds=[42, 1, 2, 3])
    driver = start_snakemake(tmp_path)
    try:
        trains = wait_until(
            lambda: new_trainings(tmp_path),
            300, "the three new trainings submitted",
        )  # fmt: skip
        ids = [t["slurm_id"] for t in trains]
        wait_until(
            lambda: sorted(slurm_cluster.squeue_states(ids).values())
            == ["PENDING", "RUNNING", "RUNNING"],
            180, "two trainings running, one waiting for a GPU",
        )  # fmt: skip
        states = slurm_cluster.squeue_states(ids)
        waiting = next(i for i, s in states.items() if s == "PENDING")
        cancelled = next(i for i, s in states.items() if s == "RUNNING")
        still = next(i for i, s in states.items() if s == "RUNNING" and i != cancelled)
        run("scontrol", "hold", waiting)
        run("scancel", cancelled)
        wait_until(lambda: slurm_cluster.squeue_states([cancelled]).get(cancelled) != "RUNNING",
                   60, "the cancelled training ended")  # fmt: skip
        wait_until(lambda: f"slurm job {waiting}" in (tmp_path / "driver.log").read_text()
                   and "JobHeldAdmin" in (tmp_path / "driver.log").read_text(),
                   60, "the driver names the held job")  # fmt: skip

        mid, calls = status(tmp_path)
        assert mid["by_state"] == {"done": 1, "running": 1, "pending": 1, "failed": 1}, mid
        assert [c.split()[0] for c in calls] == ["sacct"], calls
        trec = next(r for r in mid["by_dataset"] if r["dataset"] == "trec")
        assert (trec["runs"], trec["done"], trec["running"], trec["pending"], trec["failed"]) == (
            4, 1, 1, 1, 1,
        )  # fmt: skip
        used = sacct_gpu_hours(slurm_cluster, submitted_ids(tmp_path))
        assert mid["gpu_hours_used"] == pytest.approx(used, abs=0.01)  # running ones go on
        assert mid["jobs_running"] == 1 and mid["jobs_queued"] == 1
        assert mid["eta_basis"]["train_bridge"].startswith("measured step rate")
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)

    killed, calls = status(tmp_path)
    assert killed["by_state"] == {"done": 1, "running": 1, "pending": 1, "failed": 1}, killed
    assert len(calls) == 1

    run("scontrol", "release", waiting)
    assert snakemake(tmp_path, extra=("--unlock",)).returncode == 0
    final = snakemake(tmp_path, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    after, calls = status(tmp_path)
    assert after["by_state"] == {"done": 4}, after
    assert len(calls) == 1
    used = sacct_gpu_hours(slurm_cluster, submitted_ids(tmp_path))
    assert after["gpu_hours_used"] == pytest.approx(used, rel=1e-6)
    assert after["jobs_not_submitted"] == 0 and after["gpu_hours_planned_unsubmitted"] == 0
    # What SLURM still ran or queued when the last driver started is adopted, never submitted
    # again: the training kept running through the kill, or (when it finished first: 1500 tiny
    # steps take ≈40 s) the held one released just before; one new job, the cancelled run's.
    adopted = [i for i in (still, waiting) if f"adopting slurm job {i}" in final.stderr]
    assert adopted, final.stderr[-3000:]
    assert len(submitted(tmp_path, "train_bridge")) == 1 + 3 + 1
