"""What this SLURM does in the cases the executor plugin relies on: a real cluster, not a mock.

The module fixture `jobs` submits every job that does not disturb the others at once; each test
then waits for its own. The slurmd-kill test runs last and alone. The measured numbers are
printed (`pytest -s` shows them) and summarised in slurm/testcluster/README.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .slurmtools import CLUSTER_SH, SlurmCluster, run, wait_until

pytestmark = pytest.mark.slurm

TERMINAL = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED"}
LIMIT_S = 60  # --time=1 for the signal and time-limit jobs
# --signal=...@25: nominally 35 s into the job. slurmctld checks time limits every 30 s and sends
# the warning at the first check at most 30 s before it is due, so here 5-35 s into the job. A
# larger @N (N + 30 >= the limit) makes it due at once: a check in the first second or two of
# the job then sends it before the script (or srun step) exists, and it is lost for good.
SIGNAL_LEAD_S = 25
PERIODIC_CHECK_S = 30
OOM_PY = "import time; b = b'x' * (400 * 2**20); time.sleep(30)"  # 400 MB against --mem=100M

# probe.sh ROLE [ON_USR2]: logs "<event> <epoch s> <role> <restart count>" lines to $EVENTS for
# its start, each signal it gets and its end, and writes a heartbeat to $EVENTS.hb every 0.2 s
# until it is killed. A requeued run (SLURM_RESTART_COUNT > 0) logs start and end and exits 0.
# ROLE batch-with-step runs the probe again as an srun step (ROLE step), as submitit does.
# ON_USR2=requeue: the first run requeues its own job on SIGUSR2, as submitit's handler does.
PROBE = r"""#!/bin/bash
role=$1
on_usr2=${2:-log}
restart=${SLURM_RESTART_COUNT:-0}
# $EPOCHREALTIME, not $(date): a signal arriving during the command substitution (the TERM of
# `scontrol requeue`) left lines without a time, which the parser drops
log() { echo "$1 $EPOCHREALTIME $role $restart" >>"$EVENTS"; }
on_signal() {
    log "$1"
    if [[ $1 == USR2 && $on_usr2 == requeue && $restart == 0 ]]; then
        scontrol requeue "$SLURM_JOB_ID" && log requeued
        exit 0
    fi
}
# shellcheck disable=SC2064  # $sig is meant to expand now, once per trap
for sig in TERM CONT USR1 USR2 HUP INT; do trap "on_signal $sig" "$sig"; done
log start
if [[ $restart != 0 ]]; then log end; exit 0; fi
if [[ $role == batch-with-step ]]; then
    srun bash "$PROBE" step "$on_usr2" &
    step=$!
    # `wait` returns whenever a trap runs, so loop; the batch shell logs its own signals.
    while kill -0 "$step" 2>/dev/null; do wait "$step"; done
    log end
    exit 0
fi
while :; do date +%s.%N >"$EVENTS.hb.tmp" && mv -f "$EVENTS.hb.tmp" "$EVENTS.hb"; sleep 0.2; done
"""

SUBMITTED: list[str] = []  # every job id of this module: the slurmd test ends them first


@dataclass(frozen=True)
class Event:
    name: str
    t: float
    role: str
    restart: int


@dataclass(frozen=True)
class Job:
    job_id: str
    name: str
    events_path: Path

    def events(self) -> list[Event]:
        if not self.events_path.exists():
            return []
        events = []
        for line in self.events_path.read_text().splitlines():
            fields = line.split()
            if len(fields) == 4:  # else a line being written right now
                events.append(Event(fields[0], float(fields[1]), fields[2], int(fields[3])))
        return events

    def event(self, name: str, restart: int = 0, role: str | None = None) -> Event | None:
        return next(
            (
                e
                for e in self.events()
                if e.name == name and e.restart == restart and role in (None, e.role)
            ),
            None,
        )

    def heartbeat(self) -> float | None:
        hb = self.events_path.with_name(self.events_path.name + ".hb")
        text = hb.read_text().strip() if hb.exists() else ""
        return float(text) if text else None


def submit(
    cluster: SlurmCluster, workdir: Path, key: str, *args: str, probe: tuple[str, ...] = ()
) -> Job:
    """Submit job `tp-<key>`: the probe with `probe` args, or `args` alone (e.g. --wrap)."""
    events = workdir / f"{key}.events"
    script = workdir / "probe.sh"
    cmd = [
        "-J",
        f"tp-{key}",
        "--chdir",
        str(workdir),
        "-o",
        str(workdir / f"{key}-%j.out"),
        f"--export=ALL,EVENTS={events},PROBE={script}",
        *args,
    ]
    if probe:
        cmd += [str(script), *probe]
    job = Job(cluster.sbatch(*cmd), f"tp-{key}", events)
    SUBMITTED.append(job.job_id)
    return job


def first_word(state: str) -> str:
    return state.split()[0] if state else state


def final_rows(cluster: SlurmCluster, job_id: str, timeout_s: float) -> list[dict[str, str]]:
    """The job's `sacct -X` rows once they are all terminal."""

    def done() -> list[dict[str, str]] | None:
        rows = cluster.sacct([job_id])
        return rows if rows and all(first_word(r["State"]) in TERMINAL for r in rows) else None

    return wait_until(done, timeout_s, f"job {job_id} to finish in sacct", 1.0)


def segments(cluster: SlurmCluster, job_id: str) -> list[str]:
    """States of every run of the job, oldest first (`sacct -X --duplicates`)."""
    return [first_word(r["State"]) for r in cluster.sacct([job_id], duplicates=True)]


def wait_killed(job: Job, timeout_s: float = 60) -> float:
    """When the job's processes died: its last heartbeat, once none came for a second."""

    def last_beat() -> float | None:
        beat = job.heartbeat()
        return beat if beat and time.time() - beat > 1.0 else None

    return wait_until(last_beat, timeout_s, f"{job.name}'s processes to be killed", 0.2)


def kill_wait_s(cluster: SlurmCluster) -> int:
    """KillWait: seconds between SIGTERM and SIGKILL."""
    return int(cluster.config()["KillWait"].split()[0])


def active_jobs(cluster: SlurmCluster, job_ids: list[str] | None = None) -> set[str]:
    """Ids of the jobs (of `job_ids`, or all) that are pending, running or finishing."""
    return {job for job, state in cluster.squeue_states(job_ids).items() if state in ACTIVE}


def cancel_active(cluster: SlurmCluster, job_ids: list[str]) -> None:
    """scancel whichever of the jobs are still active and wait until they are gone."""
    if active := active_jobs(cluster, job_ids):
        run("scancel", *sorted(active))
        wait_until(lambda: not active_jobs(cluster, job_ids), 60, f"jobs {active} to end", 1.0)


def cred_expire_s(cluster: SlurmCluster) -> int:
    """AuthInfo=cred_expire: also how long a requeued job waits before it may start again."""
    for item in cluster.config().get("AuthInfo", "").split(","):
        if item.startswith("cred_expire="):
            return int(item.split("=", 1)[1])
    return 120


@pytest.fixture(scope="module")
def jobs(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Job]]:
    """Every independent job of this module, submitted at once."""
    workdir = tmp_path_factory.mktemp("slurm-jobs")
    workdir.chmod(0o777)  # jobs run as the submitting user; keep it simple for non-root runs
    (workdir / "probe.sh").write_text(PROBE)
    (workdir / "probe.sh").chmod(0o755)
    c, w = slurm_cluster, workdir
    signal_args = ("--time=1", "--requeue")
    submitted = {
        "gres": submit(c, w, "gres", "-p", "gpu", "--gres=gpu:h100:1", "--wrap", "echo gpu"),
        "array": submit(c, w, "array", "--array=0-2%2", "--wrap", "sleep 3"),
        "usr2_batch": submit(
            c,
            w,
            "usr2_batch",
            *signal_args,
            f"--signal=B:USR2@{SIGNAL_LEAD_S}",
            probe=("batch", "requeue"),
        ),
        "usr2_step": submit(
            c,
            w,
            "usr2_step",
            *signal_args,
            f"--signal=USR2@{SIGNAL_LEAD_S}",
            probe=("batch-with-step", "requeue"),
        ),
        "requeue": submit(c, w, "requeue", probe=("batch",)),
        "no_requeue": submit(c, w, "no_requeue", "--no-requeue", probe=("batch",)),
        "oom_batch": submit(c, w, "oom_batch", "--mem=100M", "--wrap", f'python3 -c "{OOM_PY}"'),
        "oom_step": submit(c, w, "oom_step", "--mem=100M", "--wrap", f'srun python3 -c "{OOM_PY}"'),
        "cancel_running": submit(c, w, "cancel_running", probe=("batch",)),
        "cancel_pending": submit(c, w, "cancel_pending", "--begin=now+3600", "--wrap", "true"),
        "timeout": submit(c, w, "timeout", "--time=1", "--no-requeue", probe=("batch",)),
    }
    yield submitted
    # Tests that failed early (or were deselected) leave probes running forever: end them.
    cancel_active(slurm_cluster, [job.job_id for job in submitted.values()])


def test_gpu_job_completes_and_sacct_shows_its_gres(slurm_cluster, jobs):
    job = jobs["gres"]
    names: set[str] = set()

    def named() -> list[dict[str, str]] | None:
        # slurmdbd may first store a short job under the name "allocation" (even as COMPLETED)
        # and fill in the real name a moment later: key on JobID, never on JobName.
        rows = slurm_cluster.sacct([job.job_id])
        names.update(r["JobName"] for r in rows)
        done = rows and rows[0]["State"] in TERMINAL and rows[0]["JobName"] == job.name
        return rows if done else None

    (row,) = wait_until(named, 180, f"job {job.job_id} to finish in sacct", 0.5)
    node, _ = slurm_cluster.node()
    assert row["JobName"] == job.name
    assert (row["State"], row["ExitCode"]) == ("COMPLETED", "0:0")
    assert "gres/gpu:h100=1" in row["AllocTRES"].split(",")
    assert "gres/gpu=1" in row["AllocTRES"].split(",")
    assert row["NodeList"] == node
    assert row["ElapsedRaw"].isdigit()
    print(f"\ngres: {row}; names seen while polling: {sorted(names)}")


def test_array_tasks_are_keyed_id_underscore_index(slurm_cluster, jobs):
    job = jobs["array"]
    keys = {f"{job.job_id}_{i}" for i in range(3)}
    compressed: set[str] = set()

    def done():
        rows = slurm_cluster.sacct([job.job_id])
        compressed.update(r["JobID"] for r in rows if "[" in r["JobID"])
        ours = [r for r in rows if r["JobID"] in keys and r["State"] == "COMPLETED"]
        return ours if len(ours) == 3 else None

    rows = wait_until(done, 180, f"array {job.job_id} to complete in sacct", 1.0)
    assert {r["JobID"] for r in rows} == keys
    assert len({r["JobIDRaw"] for r in rows}) == 3
    # The last task to start reuses the array's own id as its raw id.
    assert {r["JobID"]: r["JobIDRaw"] for r in rows}[f"{job.job_id}_2"] == job.job_id
    print(f"\narray: compressed pending rows seen in sacct meanwhile: {sorted(compressed)}")


@pytest.mark.parametrize(
    ("key", "signalled_role"), [("usr2_batch", "batch"), ("usr2_step", "step")]
)
def test_signal_before_limit_then_self_requeue_runs_same_id_again(
    slurm_cluster, jobs, key, signalled_role
):
    job = jobs[key]
    end = wait_until(lambda: job.event("end", restart=1), 240, f"{key}: the requeued run")
    start = job.event("start", restart=0)
    usr2 = job.event("USR2", restart=0, role=signalled_role)
    assert start is not None and usr2 is not None, job.events()
    assert job.event("requeued", restart=0) is not None, job.events()
    signal_at_s = usr2.t - start.t
    # Up to one check early, not late (the script starts a second or two after the allocation).
    due_s = LIMIT_S - SIGNAL_LEAD_S
    assert due_s - PERIODIC_CHECK_S - 3 < signal_at_s <= due_s + 2
    if signalled_role == "step":  # without B: only the steps get it, not the batch shell
        assert job.event("USR2", restart=0, role="batch-with-step") is None, job.events()
    restart_s = job.event("start", restart=1).t - usr2.t
    (row,) = final_rows(slurm_cluster, job.job_id, 60)
    assert (row["State"], row["ExitCode"]) == ("COMPLETED", "0:0")
    assert segments(slurm_cluster, job.job_id) == ["REQUEUED", "COMPLETED"]
    steps = slurm_cluster.sacct([job.job_id], duplicates=True, allocations=False)
    print(
        f"\n{key}: USR2 to the {signalled_role} {signal_at_s:.1f}s after start (due at "
        f"{due_s}s), second run {restart_s:.1f}s after the signal, "
        f"ended {end.t - start.t:.1f}s after the first start; sacct "
        f"{[(r['JobID'], r['State'], r['ExitCode']) for r in steps]}"
    )


def test_scontrol_requeue_sends_term_then_kill_and_reruns_same_id(slurm_cluster, jobs):
    job = jobs["requeue"]
    wait_until(job.heartbeat, 180, "the job to run its script")
    requeued_at = time.time()
    run("scontrol", "requeue", job.job_id)
    wait_until(lambda: job.event("end", restart=1), 180, "the requeued run")
    term = job.event("TERM")
    assert term is not None, job.events()
    assert job.event("CONT") is not None, job.events()
    killed_at = job.heartbeat()  # the script ignores SIGTERM; SIGKILL ends its heartbeat
    kill_wait = kill_wait_s(slurm_cluster)
    term_after_s = term.t - requeued_at
    kill_after_s = killed_at - term.t
    rerun_after_s = job.event("start", restart=1).t - killed_at
    assert term_after_s < 3
    assert kill_wait - 1.5 < kill_after_s < kill_wait + 3
    assert rerun_after_s > cred_expire_s(slurm_cluster) - 1
    (row,) = final_rows(slurm_cluster, job.job_id, 60)
    assert row["State"] == "COMPLETED"
    assert segments(slurm_cluster, job.job_id) == ["REQUEUED", "COMPLETED"]
    steps = slurm_cluster.sacct([job.job_id], duplicates=True, allocations=False)
    first_batch = next(r for r in steps if r["JobID"] == f"{job.job_id}.batch")
    assert (first_word(first_batch["State"]), first_batch["ExitCode"]) == ("CANCELLED", "0:9")
    print(
        f"\nrequeue: SIGTERM+SIGCONT {term_after_s:.2f}s after `scontrol requeue`, SIGKILL "
        f"{kill_after_s:.1f}s later (KillWait={kill_wait}), rerun {rerun_after_s:.1f}s "
        f"after the kill; sacct rows {[(r['JobID'], r['State'], r['ExitCode']) for r in steps]}"
    )


def test_scontrol_requeue_is_refused_for_a_no_requeue_job(slurm_cluster, jobs):
    job = jobs["no_requeue"]
    wait_until(job.heartbeat, 180, "the job to run its script")
    proc = subprocess.run(
        ["scontrol", "requeue", job.job_id], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Requested operation is presently disabled" in proc.stderr
    assert job.event("TERM") is None  # untouched: still running
    run("scancel", job.job_id)
    print(f"\nno-requeue: `scontrol requeue` exit 1, {proc.stderr.strip()!r}")


def test_job_over_its_memory_ends_out_of_memory(slurm_cluster, jobs):
    (batch,) = final_rows(slurm_cluster, jobs["oom_batch"].job_id, 180)
    (step_job,) = final_rows(slurm_cluster, jobs["oom_step"].job_id, 180)
    steps = slurm_cluster.sacct([jobs["oom_step"].job_id], allocations=False)
    step = {r["JobID"].rsplit(".", 1)[-1]: r for r in steps}
    if "task/cgroup" in slurm_cluster.config()["TaskPlugin"]:
        assert (batch["State"], batch["ExitCode"]) == ("OUT_OF_MEMORY", "0:125")
        # submitit-style (payload under srun): the allocation is FAILED (srun exits 1), only the
        # step says OUT_OF_MEMORY, so `sacct -X` alone cannot tell OOM from an ordinary failure.
        assert (step_job["State"], step_job["ExitCode"]) == ("FAILED", "1:0")
        assert (step["0"]["State"], step["0"]["ExitCode"]) == ("OUT_OF_MEMORY", "0:125")
    else:  # cluster.sh's fallback without a memory cgroup: OverMemoryKill cancels the step
        assert (batch["State"], batch["ExitCode"]) == ("FAILED", "0:9")
    print(
        f"\noom: batch {batch['State']} {batch['ExitCode']}; srun step: allocation "
        f"{step_job['State']} {step_job['ExitCode']}, steps "
        f"{[(r['JobID'], r['State'], r['ExitCode']) for r in steps]}"
    )


def test_scancel_gives_cancelled_by_uid(slurm_cluster, jobs):
    running, pending = jobs["cancel_running"], jobs["cancel_pending"]
    wait_until(running.heartbeat, 180, "the job to run its script")
    run("scancel", pending.job_id, running.job_id)
    cancelled_at = time.time()
    rows = {j.job_id: final_rows(slurm_cluster, j.job_id, 60)[0] for j in (running, pending)}
    final_after_s = time.time() - cancelled_at
    for row in rows.values():
        assert first_word(row["State"]) == "CANCELLED"
        assert row["State"] == f"CANCELLED by {os.getuid()}"
    assert rows[pending.job_id]["ElapsedRaw"] == "0"
    term = running.event("TERM")
    assert term is not None and term.t - cancelled_at < 3, running.events()
    kill_after_s = wait_killed(running) - term.t
    kill_wait = kill_wait_s(slurm_cluster)
    assert kill_wait - 1.5 < kill_after_s < kill_wait + 3
    # sacct says CANCELLED while the job's processes still have KillWait seconds to go.
    assert final_after_s < term.t - cancelled_at + kill_after_s
    print(
        "\nscancel: "
        + "; ".join(
            f"{kind} {r['State']} exit {r['ExitCode']} nodes {r['NodeList']}"
            for kind, r in (("running", rows[running.job_id]), ("pending", rows[pending.job_id]))
        )
        + f"; SIGTERM {term.t - cancelled_at:.2f}s after scancel, SIGKILL {kill_after_s:.1f}s "
        f"later; sacct terminal within {final_after_s:.1f}s of scancel"
    )


def test_time_limit_sends_term_late_and_ends_timeout(slurm_cluster, jobs):
    job = jobs["timeout"]
    (row,) = final_rows(slurm_cluster, job.job_id, 200)
    start, term = job.event("start"), job.event("TERM")
    assert start is not None and term is not None, job.events()
    assert row["State"] == "TIMEOUT"
    term_at_s = term.t - start.t
    # Enforced late, by up to one ~30 s check; the script starts ~1 s after the allocation.
    assert LIMIT_S - 3 <= term_at_s < LIMIT_S + 60
    kill_after_s = wait_killed(job) - term.t
    kill_wait = kill_wait_s(slurm_cluster)
    assert kill_wait - 1.5 < kill_after_s < kill_wait + 3
    print(
        f"\ntimeout: SIGTERM {term_at_s:.1f}s after start (limit {LIMIT_S}s), SIGKILL "
        f"{kill_after_s:.1f}s later, sacct {row['State']} {row['ExitCode']} "
        f"ElapsedRaw {row['ElapsedRaw']}"
    )


def test_killed_slurmd_gives_node_fail_and_requeue(slurm_cluster, tmp_path):
    """Runs last: it kills slurmd, so it first waits for the module's other jobs to end."""
    if os.geteuid() != 0 or not slurm_cluster.is_managed:
        pytest.skip("kills and restarts slurmd: needs root and cluster.sh's own cluster")
    cancel_active(slurm_cluster, SUBMITTED)  # the other tests are done with them
    # Someone else's jobs would be requeued or lost: wait for the cluster to be idle.
    deadline = time.monotonic() + 180
    while others := active_jobs(slurm_cluster):
        if time.monotonic() > deadline:
            message = f"jobs {sorted(others)} of someone else keep the cluster busy"
            if os.environ.get("TELEPATHY_REQUIRE_SLURM") == "1":
                pytest.fail(message)
            pytest.skip(f"{message}; not killing slurmd under them")
        time.sleep(2)
    tmp_path.chmod(0o777)
    (tmp_path / "probe.sh").write_text(PROBE)
    (tmp_path / "probe.sh").chmod(0o755)
    requeued = submit(slurm_cluster, tmp_path, "nodefail_requeue", probe=("batch",))
    not_requeued = submit(
        slurm_cluster, tmp_path, "nodefail_norequeue", "--no-requeue", probe=("batch",)
    )
    both = [requeued.job_id, not_requeued.job_id]
    for job in (requeued, not_requeued):
        wait_until(job.heartbeat, 60, f"{job.name} to run its script")
    pidfile = Path(slurm_cluster.config()["SlurmdPidFile"])
    killed_at = time.time()
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    seen: dict[str, float] = {}
    try:

        def node_down():
            _, state = slurm_cluster.node()
            seen.setdefault(state, time.time() - killed_at)
            return state.startswith("down")

        wait_until(node_down, 120, "the node to go DOWN after slurmd was killed", 0.5)
        down_s = time.time() - killed_at
        squeue_after_down = slurm_cluster.squeue_states(both)
        # slurmdbd lags: the requeued run's PENDING record arrives a moment after NODE_FAIL.
        expected = {requeued.job_id: ["NODE_FAIL", "PENDING"], not_requeued.job_id: ["NODE_FAIL"]}
        wait_until(
            lambda: {j: segments(slurm_cluster, j) for j in both} == expected,
            30,
            f"sacct --duplicates to show {expected}",
        )
        sacct_s = time.time() - killed_at
        beats = [j.heartbeat() for j in (requeued, not_requeued)]
        orphans_alive = all(b > killed_at + down_s - 2 for b in beats)
    finally:
        restarted_at = time.time()
        subprocess.run(["bash", str(CLUSTER_SH), "up"], check=True, timeout=120)
        back_s = time.time() - restarted_at
    assert squeue_after_down[requeued.job_id] == "PENDING"
    assert not_requeued.job_id not in squeue_after_down or (
        squeue_after_down[not_requeued.job_id] == "NODE_FAIL"
    )
    # slurmstepd outlives slurmd: the NODE_FAIL jobs keep running until slurmd is back.
    assert orphans_alive
    wait_until(lambda: requeued.event("end", restart=1), 90, "the requeued run after NODE_FAIL")
    (row,) = final_rows(slurm_cluster, requeued.job_id, 60)
    assert row["State"] == "COMPLETED"
    assert segments(slurm_cluster, requeued.job_id) == ["NODE_FAIL", "COMPLETED"]
    (lost,) = final_rows(slurm_cluster, not_requeued.job_id, 30)
    assert lost["State"] == "NODE_FAIL"

    def orphans_gone():
        beats = [j.heartbeat() for j in (requeued, not_requeued)]
        return all(time.time() - b > 2 for b in beats)

    wait_until(orphans_gone, 30, "the orphaned job processes to be killed")
    _, state = slurm_cluster.node()
    assert state in {"idle", "mixed", "allocated", "completing"}
    print(
        f"\nslurmd SIGKILL: node states seen (s after kill) {seen}; DOWN after {down_s:.1f}s; "
        f"squeue then {squeue_after_down}; sacct --duplicates {expected} at {sacct_s:.1f}s; "
        f"`cluster.sh up` took {back_s:.1f}s; orphans killed by the restarted slurmd; "
        f"--no-requeue job: {lost['State']} {lost['ExitCode']}"
    )
