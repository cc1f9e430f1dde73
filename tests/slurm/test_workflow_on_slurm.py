"""The workflow on the real SLURM test cluster through `snakemake --profile slurm`.

Each test runs the tiny pair on the TREC fixture in its own directory, with the profile users
type and the test cluster's `gpu` partition, and checks what SLURM itself recorded (sacct).
Fault tests: time limit, `scontrol requeue`, `scancel`, a killed driver, memory, node failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import as_from_a_terminal

from .slurmtools import CLUSTER_SH, REPO, SlurmCluster, run, wait_until

pytestmark = pytest.mark.slurm

TINY = REPO / "tests" / "workflow" / "config.yaml"
RUN_DIR = "results/corrected/train/tiny/trec/perceiver/k4/l2/seed{seed}"
CHECKPOINT = "results/corrected/checkpoints/tiny/trec/perceiver/k4/l2/seed{seed}/state.pt"
ALL = ("all_paper_tables",)
# The test cluster's node has 8 CPUs and ~22 GB: ask for what a tiny job needs.
GPU_RULES = ("train_bridge", "evaluate_bridge", "inspect_bridge")
THREADS = [*(f"{rule}=1" for rule in GPU_RULES), "prepare_models=1", "prepare_dataset=1"]
MEMORY = [*(f"{rule}:mem_mb=3000" for rule in GPU_RULES), "prepare_models:mem_mb=2000",
          "prepare_dataset:mem_mb=2000"]  # fmt: skip


def write_config(workdir: Path, *, steps: int, seeds: list[int], **settings) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config["settings"].update(settings)
    for files in config["local_data"].values():
        for key in ("train", "eval"):
            files[key] = str(REPO / files[key])
    grid = config["grids"]["corrected"]
    grid["seeds"] = seeds
    grid["runs"][0]["steps"] = steps
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def result_file(stage: str, seed: int, name: str) -> str:
    """A tiny run's file of one stage (train, eval, inspect), relative to the workflow dir."""
    return f"{RUN_DIR.replace('/train/', f'/{stage}/', 1).format(seed=seed)}/{name}"


def trained(*seeds: int) -> tuple[str, ...]:
    """Targets that stop at the bridges' training: the fault tests check nothing after it (the
    evaluations, tables and figures would add a minute of jobs to each)."""
    return tuple(result_file("train", seed, "train.json") for seed in seeds)


def evaluated(*seeds: int) -> tuple[str, ...]:
    """Targets that stop at the bridges' evaluation (a run's two result files)."""
    return trained(*seeds) + tuple(result_file("eval", seed, "eval.json") for seed in seeds)


def snakemake_command(
    workdir: Path,
    resources: tuple[str, ...] = (),
    targets: tuple[str, ...] = ALL,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The profile users type, plus per-rule resources (later ones override MEMORY's)."""
    return [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *targets,
        "--profile", str(REPO / "slurm"), "--configfile", str(workdir / "config.yaml"),
        "--set-threads", *THREADS, "--set-resources", *MEMORY, *resources,
        "--submitit-poll-interval", "3", *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SNAKEMAKE_SUBMITIT_GPU_PARTITION": "gpu",  # the site value, as users set it
    }


def snakemake(
    workdir: Path,
    resources: tuple[str, ...] = (),
    timeout: int = 600,
    targets: tuple[str, ...] = ALL,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_command(workdir, resources, targets, extra), cwd=workdir, env=environment(),
        check=False, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_snakemake(workdir: Path, targets: tuple[str, ...] = ALL) -> subprocess.Popen:
    log = (workdir / "driver.log").open("a")
    # faulthandler: a SIGABRT writes every thread's stack to the log (a driver that hangs)
    env = {**environment(), "PYTHONFAULTHANDLER": "1"}
    command = snakemake_command(workdir, targets=targets)
    assert command[0] == sys.executable
    return subprocess.Popen(
        as_from_a_terminal(command[1:]), cwd=workdir, env=env, stdout=log,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def submissions(workdir: Path) -> list[dict]:
    path = workdir / ".snakemake" / "submitit" / "submissions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def submitted(workdir: Path, rule: str) -> list[dict]:
    return [s for s in submissions(workdir) if s["rule"] == rule]


def training_steps_logged(workdir: Path, seed: int) -> int:
    """Steps in the metrics log that grows beside the checkpoint while training runs."""
    log = workdir / (CHECKPOINT.format(seed=seed) + ".metrics.jsonl")
    return len(log.read_text().splitlines()) if log.exists() else 0


def train_result(workdir: Path, seed: int) -> tuple[dict, list[int]]:
    run_dir = workdir / RUN_DIR.format(seed=seed)
    result = json.loads((run_dir / "train.json").read_text())
    steps = [
        json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    return result, steps


def segments(cluster: SlurmCluster, job_id: str) -> list[str]:
    """The states of every allocation segment of a job (a requeued job has several)."""
    return [row["State"].split()[0] for row in cluster.sacct([job_id], duplicates=True)]


def running(cluster: SlurmCluster, job_id: str) -> bool:
    return cluster.squeue_states([job_id]).get(job_id) == "RUNNING"


def assert_finished_after_one_restart(workdir: Path, cluster: SlurmCluster, steps: int) -> None:
    """One SLURM job for the run, requeued at least once, resumed rather than restarted."""
    (train,) = submitted(workdir, "train_bridge")  # never resubmitted as a new job
    states = segments(cluster, train["slurm_id"])
    assert states[-1] == "COMPLETED" and "REQUEUED" in states[:-1], states
    result, logged = train_result(workdir, 42)
    assert result["metrics"]["restarts"] >= 1
    assert result["metrics"]["steps_completed"] == steps
    assert logged == list(range(1, steps + 1))  # every step once: continued, not restarted
    assert "SLURM restart 1" in Path(train["log"]).read_text()  # submitit's log, appended


# ---------------------------------------------------------------------------------- tests


def test_profile_runs_the_tiny_workflow_end_to_end_with_gpu_gres_and_readable_names(
    slurm_cluster, tmp_path
):
    write_config(tmp_path, steps=3, seeds=[42, 123])
    proc = snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "results/corrected/runs.csv").exists()
    jobs = {s["slurm_id"]: s for s in submissions(tmp_path)}
    rows = {row["JobID"]: row for row in slurm_cluster.sacct(list(jobs))}
    assert set(rows) == set(jobs)
    for job_id, job in jobs.items():
        row = rows[job_id]
        assert row["State"] == "COMPLETED", row
        assert row["JobName"].startswith(job["rule"] + "-"), row  # <rule>-<wildcards>
        gpu_rule = job["rule"] in GPU_RULES
        assert ("gres/gpu:h100=1" in row["AllocTRES"]) == gpu_rule, row
    # a single job's name has all its wildcards; an array's (both evals ready in the same
    # round) only those its tasks share
    shared = "evaluate_bridge-protocol=corrected,pair=tiny,dataset=trec,arch=perceiver,k=4,layer=2"
    evals = {i: s for i, s in jobs.items() if s["rule"] == "evaluate_bridge"}
    assert {s["wildcards"]["seed"] for s in evals.values()} == {"42", "123"}
    for job_id, job in evals.items():
        name = rows[job_id]["JobName"]
        assert name in (shared, f"{shared},seed={job['wildcards']['seed']}"), name
    # the two training runs were ready together: one array, one sbatch
    trains = submitted(tmp_path, "train_bridge")
    assert len(trains) == 2 and len({t["slurm_id"].split("_")[0] for t in trains}) == 1
    # GPU-hours used (sacct) beside requested (the plugin's record), per rule and dataset
    accounting = snakemake(tmp_path, targets=("gpu_usage",))
    assert accounting.returncode == 0, accounting.stderr[-3000:]
    usage = json.loads((tmp_path / "results/corrected/gpu_usage.json").read_text())
    by_rule = {row["rule"]: row for row in usage["by_rule"]}
    assert by_rule["train_bridge"]["jobs"] == 2 and by_rule["evaluate_bridge"]["jobs"] == 2
    assert by_rule["train_bridge"]["gpu_hours"] > 0 and by_rule["prepare_models"]["gpu_hours"] == 0
    requested = by_rule["train_bridge"]["requested_gpu_hours"]
    assert requested == pytest.approx(2 * 21 / 60)  # 2 jobs x 21 min x 1 GPU
    assert {row["dataset"] for row in usage["by_dataset"]} >= {"trec"}


def test_offline_compute_nodes_prepare_on_the_submitting_host(slurm_cluster, tmp_path):
    """The site says its compute nodes reach no internet (the environment variable users set,
    as for partitions): the prepare rules run on this host, everything else on the cluster's
    partitions, and the GPU jobs read only what the prepare rules wrote."""
    write_config(tmp_path, steps=3, seeds=[42])
    env = {**environment(), "SNAKEMAKE_SUBMITIT_OFFLINE_COMPUTE_NODES": "true"}
    proc = subprocess.run(
        snakemake_command(tmp_path), cwd=tmp_path, env=env, check=False, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rule in ("prepare_models", "prepare_dataset"):
        assert f"submitit: {rule}: running on this host, not on a compute node" in proc.stderr
        assert not submitted(tmp_path, rule)
    assert (tmp_path / "results/data/trec/snapshot.json").is_file()
    assert (tmp_path / "results/models/tiny.json").is_file()
    jobs = {s["slurm_id"]: s for s in submissions(tmp_path)}
    rows = slurm_cluster.sacct(list(jobs), fields=("JobID", "JobName", "Partition", "State"))
    # the merges, tables and figures are local rules of the Snakefile: the GPU jobs are the
    # rest, and they went to the cluster's gpu partition
    assert {row["JobName"].split("-")[0] for row in rows} == set(GPU_RULES)
    assert all(row["Partition"] == "gpu" and row["State"] == "COMPLETED" for row in rows), rows
    assert (tmp_path / "results/corrected/runs.csv").exists()


def test_time_limit_signals_checkpoints_requeues_and_resumes(slurm_cluster, tmp_path):
    """(a) A 2-minute limit, USR2 60 s before it: the run checkpoints, requeues itself under
    the same job id, resumes where it stopped, and Snakemake sees one job that succeeds."""
    # USR2 comes 60-90 s into each 2-minute segment (60 s before the limit; the controller
    # checks every 30 s). 3600 tiny steps take ~90 s plus ~7 s of loading on an idle 2-core
    # machine (0.025 s/step since the bridge got faster: 1800 steps now end in 52 s, before any
    # signal), so at least one requeue always happens; a loaded machine needs more segments (at
    # most 10). (With the signal 90 s before the limit it comes after ~20 s: 6 requeues, 4 min.)
    steps = 3600
    write_config(tmp_path, steps=steps, seeds=[42])
    limits = ("train_bridge:runtime=2", "train_bridge:slurm_signal_delay_s=60")
    proc = snakemake(tmp_path, limits, timeout=900, targets=trained(42))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_finished_after_one_restart(tmp_path, slurm_cluster, steps)


def test_scontrol_requeue_of_a_running_training_job_resumes_it(slurm_cluster, tmp_path):
    """(b) What preemption does: SIGTERM, back to the queue, the same job id runs again."""
    steps = 400
    write_config(tmp_path, steps=steps, seeds=[42])
    driver = start_snakemake(tmp_path, trained(42))
    try:
        train = wait_until(lambda: submitted(tmp_path, "train_bridge"), 180, "train submission")
        wait_until(lambda: training_steps_logged(tmp_path, 42) >= 20, 240, "20 training steps")
        run("scontrol", "requeue", train[0]["slurm_id"])
        assert driver.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-4000:]
    finally:
        driver.kill()
    assert_finished_after_one_restart(tmp_path, slurm_cluster, steps)


def test_scancel_is_reported_cancelled_with_the_log_and_a_rerun_completes(slurm_cluster, tmp_path):
    """(c) scancel: CANCELLED, the log path in the message; the rerun resumes and finishes."""
    steps = 300
    write_config(tmp_path, steps=steps, seeds=[42])
    driver = start_snakemake(tmp_path, trained(42))
    try:
        train = wait_until(lambda: submitted(tmp_path, "train_bridge"), 180, "train submission")
        wait_until(lambda: training_steps_logged(tmp_path, 42) >= 10, 240, "10 training steps")
        run("scancel", train[0]["slurm_id"])
        assert driver.wait(timeout=300) != 0
    finally:
        driver.kill()
    output = (tmp_path / "driver.log").read_text()
    assert f"CANCELLED: slurm job {train[0]['slurm_id']}" in output
    assert "cancelled by a user or an admin" in output and train[0]["log"] in output
    assert not (tmp_path / result_file("train", 42, "train.json")).exists()

    rerun = snakemake(tmp_path, targets=trained(42))
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    result, logged = train_result(tmp_path, 42)
    assert result["metrics"]["restarts"] == 1  # resumed from the checkpoint written on SIGTERM
    assert logged == list(range(1, steps + 1))


def test_a_killed_driver_loses_nothing_and_adopts_running_jobs(slurm_cluster, tmp_path):
    """(d) SIGKILL the snakemake process while training runs; start it again: finished jobs
    are not resubmitted, running ones are adopted, every result arrives."""
    # 1500 tiny steps (~45 s idle, longer beside other tests) outlast the restart (--unlock,
    # then the run: ~15 s); with 250 the jobs once ended before it and there was nothing to adopt
    steps = 1500
    write_config(tmp_path, steps=steps, seeds=[42, 123])
    driver = start_snakemake(tmp_path, trained(42, 123))
    try:
        trains = wait_until(
            lambda: len(submitted(tmp_path, "train_bridge")) == 2,
            240, "both training jobs submitted",
        ) and submitted(tmp_path, "train_bridge")  # fmt: skip
        wait_until(lambda: all(running(slurm_cluster, t["slurm_id"]) for t in trains), 120,
                   "both training jobs running")  # fmt: skip
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    before = submissions(tmp_path)

    # a killed driver leaves its lock behind; the README's restart is --unlock, then the run
    unlock = snakemake(tmp_path, extra=("--unlock",))
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    proc = snakemake(tmp_path, targets=trained(42, 123))
    assert proc.returncode == 0, proc.stderr[-4000:]
    for train in trains:
        assert f"adopting slurm job {train['slurm_id']}" in proc.stderr
    assert submissions(tmp_path) == before  # nothing submitted again: the prepare jobs ran
    for seed in (42, 123):
        result, logged = train_result(tmp_path, seed)
        assert result["metrics"]["restarts"] == 0 and logged == list(range(1, steps + 1))


def test_a_job_over_its_memory_limit_is_reported_out_of_memory(slurm_cluster, tmp_path):
    """(e) 200 MB for a job that loads torch and two models."""
    write_config(tmp_path, steps=3, seeds=[42])
    proc = snakemake(tmp_path, ("train_bridge:mem_mb=200",), targets=trained(42))
    assert proc.returncode != 0
    _, retry = submitted(tmp_path, "train_bridge")  # one escalated retry, 382 MiB: too small
    assert retry["escalation"] == "mem 191 -> 382 MiB"
    assert f"OUT_OF_MEMORY: slurm job {retry['slurm_id']}" in proc.stderr
    assert "raise `mem_mb` for rule train_bridge" in proc.stderr


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def kill_node(cluster: SlurmCluster) -> None:
    """What a node loss does to our jobs: slurmd and every job process die at once (killing
    slurmd alone leaves slurmstepd and the job running on, which a dead node would not)."""
    os.kill(int(Path(cluster.config()["SlurmdPidFile"]).read_text()), signal.SIGKILL)
    stepds = [int(p) for p in run("pgrep", "-x", "slurmstepd").split()]
    doomed, frontier = set(stepds), list(stepds)
    while frontier:
        kids = _children(frontier.pop())
        doomed.update(kids)
        frontier.extend(kids)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_node_failure_is_retried_by_the_plugin_and_training_resumes(slurm_cluster, tmp_path):
    """(f) The node dies under a training job that does not requeue itself: sacct says
    NODE_FAIL, the plugin submits the job again, and the new job resumes from the checkpoint."""
    if os.geteuid() != 0 or not slurm_cluster.is_managed:
        pytest.skip("kills and restarts slurmd: needs root and cluster.sh's own cluster")
    steps = 300
    write_config(tmp_path, steps=steps, seeds=[42], checkpoint_every=25)
    driver = subprocess.Popen(
        snakemake_command(tmp_path, ("train_bridge:max_timeout_requeues=0",), trained(42)),
        cwd=tmp_path, env=environment(), stdout=(tmp_path / "driver.log").open("w"),
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log = tmp_path / "driver.log"
    try:
        first = wait_until(lambda: submitted(tmp_path, "train_bridge"), 180, "train submission")
        wait_until(lambda: training_steps_logged(tmp_path, 42) >= 60, 240, "60 training steps")
        kill_node(slurm_cluster)
        wait_until(lambda: "infrastructure retry 1 of 2" in log.read_text(), 180,
                   "the plugin to resubmit after NODE_FAIL")  # fmt: skip
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "up"], check=True, timeout=300)  # node back
    try:
        assert driver.wait(timeout=600) == 0, log.read_text()[-4000:]
    finally:
        driver.kill()
    old_id = first[0]["slurm_id"]
    assert f"NODE_FAIL: slurm job {old_id}" in log.read_text()
    trains = submitted(tmp_path, "train_bridge")
    assert len(trains) == 2 and trains[1]["slurm_id"] != old_id
    assert segments(slurm_cluster, old_id) == ["NODE_FAIL"]
    result, logged = train_result(tmp_path, 42)
    assert result["metrics"]["restarts"] == 1
    assert logged == list(range(1, steps + 1))
    train_log = tmp_path / "logs/train_bridge/corrected/tiny/trec/perceiver/k4/l2/seed42.log"
    train_log = train_log.read_text()
    resumed_at = int(re.search(r"resumed from \S+ at step (\d+)", train_log)[1])
    assert resumed_at >= 50 and resumed_at % 25 == 0  # the last periodic checkpoint


def test_ctrl_c_cancels_the_jobs_it_submitted(slurm_cluster, tmp_path):
    """Ctrl-C on the driver: every job it submitted that still runs is scancel'ed."""
    # long enough to be running when Ctrl-C comes: the tiny pair now does 2,000 steps in ~50 s,
    # and once a run finished before the test saw it running
    write_config(tmp_path, steps=20000, seeds=[42])
    driver = start_snakemake(tmp_path, trained(42))
    try:
        train = wait_until(lambda: submitted(tmp_path, "train_bridge"), 180, "train submission")
        job_id = train[0]["slurm_id"]
        wait_until(lambda: running(slurm_cluster, job_id), 120, "the training job to run")
        driver.send_signal(signal.SIGINT)
        try:
            driver.wait(timeout=120)
        except subprocess.TimeoutExpired:
            driver.send_signal(signal.SIGABRT)
            driver.wait(timeout=30)
            stacks = (tmp_path / "driver.log").read_text()[-6000:]
            pytest.fail(f"the driver ignored Ctrl-C for 120 s; its log and stacks:\n{stacks}")
    finally:
        driver.kill()
    assert "submitit: cancelled 1 SLURM job(s): " + job_id in (tmp_path / "driver.log").read_text()
    wait_until(lambda: segments(slurm_cluster, job_id) == ["CANCELLED"], 60, "CANCELLED in sacct")


# Runs Snakemake with the registry write of the first training submission replaced by a
# SIGKILL of the driver: sbatch has accepted the array, nothing of it is recorded.
KILL_AFTER_SBATCH = """
import os, signal, sys
from snakemake_executor_plugin_submitit import registry
record = registry.SubmissionRegistry.append
def append(self, submissions):
    if submissions and submissions[0].rule == "train_bridge":
        os.kill(os.getpid(), signal.SIGKILL)
    record(self, submissions)
registry.SubmissionRegistry.append = append
from snakemake.cli import main
sys.exit(main())
"""


def test_a_driver_killed_between_sbatch_and_its_record_trains_no_run_twice(slurm_cluster, tmp_path):
    """Issue 15 #7: the restarted driver finds the unrecorded array by its intent (one squeue)
    and adopts it: exactly one SLURM job per run, every result present."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    # 1000 tiny steps outlast the restart (see the killed-driver test above)
    steps = 1000
    write_config(tmp_path, steps=steps, seeds=[42, 123])
    killer = tmp_path / "kill_after_sbatch.py"
    killer.write_text(KILL_AFTER_SBATCH)
    arguments = snakemake_command(tmp_path, targets=trained(42, 123))[3:]
    command = [sys.executable, str(killer), *arguments]
    died = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True,
                          text=True, timeout=400, check=False)  # fmt: skip
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert submitted(tmp_path, "train_bridge") == []  # accepted by SLURM, never recorded

    unlock = snakemake(tmp_path, extra=("--unlock",))
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    proc = snakemake(tmp_path, targets=trained(42, 123))
    assert proc.returncode == 0, proc.stderr[-4000:]
    trains = submitted(tmp_path, "train_bridge")
    assert len(trains) == 2, trains  # the found array's two tasks, nothing submitted again
    parent = trains[0]["slurm_id"].split("_")[0]
    assert {t["slurm_id"] for t in trains} == {f"{parent}_0", f"{parent}_1"}
    assert f"found slurm job {parent} (train_bridge, 2 job(s))" in proc.stderr
    # every training job SLURM ran for this workflow directory (`--name` cannot select them:
    # sacct splits it at the commas our job names hold)
    rows = run("sacct", "-X", "-n", "-P", "-S", started, "--format=JobID,JobName,WorkDir")
    ran = sorted(
        job_id
        for job_id, name, workdir in (row.split("|") for row in rows.splitlines() if row)
        if name.startswith("train_bridge") and Path(workdir) == tmp_path
    )
    assert ran == [f"{parent}_0", f"{parent}_1"]  # one SLURM job per run
    for seed in (42, 123):
        result, logged = train_result(tmp_path, seed)
        assert result["metrics"]["restarts"] == 0 and logged == list(range(1, steps + 1))
