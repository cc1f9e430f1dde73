"""SLURM job states: parse one sacct/squeue answer for many jobs, classify each state.

Pure functions. The rule that matters most: nothing unknown, missing or lagging is ever
success. Success needs COMPLETED with exit 0:0 (or submitit's own result file saying so).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

# sacct --parsable2 --noheader --format=<these>; JobID is the key (123, 123_4; 123.0 a step).
SACCT_STATUS_FIELDS = ("JobID", "JobIDRaw", "State", "ExitCode", "ElapsedRaw", "NodeList", "Reason",
                       "Submit")  # fmt: skip
# How long before the plugin wrote down a submission SLURM may stamp its job: sbatch's own
# latency, and the clocks of the submitting host and of the controller.
SUBMIT_SLACK_S = 60


class Outcome(Enum):
    RUNNING = "running"  # keep waiting
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    state: str
    message: str = ""
    retriable: bool = False


@dataclass(frozen=True)
class JobState:
    job_id: str  # 123 or 123_4
    state: str  # first word only: "CANCELLED by 0" -> CANCELLED
    exit_code: str = ""  # code:signal
    node: str = ""
    reason: str = ""
    elapsed_s: int = 0  # squeue's %M (the current segment); sacct's rows leave it 0


_WAITING = {
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING",
    "SIGNALING", "STAGE_OUT", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT",
    "PREEMPTED",
}  # fmt: skip
_ARRAY = re.compile(r"^(?P<parent>\d+)_\[(?P<ranges>[^\]]+)\]$")


# Pending for a reason no amount of waiting fixes: a person must release the job.
HELD_REASONS = {"JobHeldAdmin", "JobHeldUser"}


def held_notice(state: JobState, rule: str) -> str | None:
    """What to tell the user at once about a job that is held, or None if it is not."""
    if state.state != "PENDING" or state.reason not in HELD_REASONS:
        return None
    by = "an administrator" if state.reason == "JobHeldAdmin" else "its user"
    return (
        f"slurm job {state.job_id} (rule {rule}) is held by {by} ({state.reason}): it will not "
        f"start until `scontrol release {state.job_id}`"
        + (" (an admin's hold needs an admin)" if state.reason == "JobHeldAdmin" else "")
    )


def expand_job_id(job_id: str) -> list[str]:
    """`123_[0-2,5%4]` (pending array tasks, compressed) -> 123_0 123_1 123_2 123_5."""
    match = _ARRAY.match(job_id)
    if not match:
        return [job_id]
    ranges = match["ranges"].split("%")[0]
    ids = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        ids.extend(f"{match['parent']}_{i}" for i in range(int(first), int(last or first) + 1))
    return ids


class SubmissionTimes:
    """When the plugin submitted a SLURM id (123, 123_4, 123_[0-3]): its own record, else its
    array's earliest; None if it submitted neither. The earliest per array is indexed once,
    so a sacct listing of n rows costs n lookups, not n scans of every submission."""

    def __init__(self, submitted_at: Mapping[str, float]) -> None:
        self.exact = submitted_at
        self.earliest: dict[str, float] = {}
        for job_id, when in submitted_at.items():
            parent = job_id.split("_")[0]
            self.earliest[parent] = min(when, self.earliest.get(parent, when))

    def __call__(self, job_id: str) -> float | None:
        if job_id in self.exact:
            return self.exact[job_id]
        return self.earliest.get(job_id.split("_")[0])


def before(stamp: str, since: float) -> bool:
    """Whether sacct's time stamp (local `2026-12-07T12:21:44`) lies before `since` by more
    than SUBMIT_SLACK_S: then the row is of an older job that had the same id, since SLURM
    numbers jobs anew once a controller's state is reset and its accounting keeps the older
    ones. `Unknown`, `None` and the like are never before."""
    try:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) < since - SUBMIT_SLACK_S
    except ValueError:
        return False


def parse_sacct_status(
    text: str, submitted_at: Mapping[str, float] | None = None
) -> dict[str, JobState]:
    """sacct rows (allocations and their steps) -> {job id: state}. With `submitted_at` (epoch
    seconds per id), rows submitted before their id was (an older job's; see `before`) are
    left out.

    The allocation row (123, 123_4) gives the state, except that a step killed for memory
    makes it OUT_OF_MEMORY: submitit runs the command as an srun step, and when that step is
    OOM-killed SLURM marks only the step OUT_OF_MEMORY while the job reads FAILED 1:0.
    With --duplicates, the newest (last) row of an id wins.
    """
    states: dict[str, JobState] = {}
    oom_steps: set[str] = set()
    submission_time = SubmissionTimes(submitted_at or {})
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(SACCT_STATUS_FIELDS):
            continue  # a warning line mixed into the output; never guess from it
        row = dict(zip(SACCT_STATUS_FIELDS, fields, strict=True))
        words = row["State"].split()
        state = words[0] if words else "UNKNOWN"
        job_id, _, step = row["JobID"].partition(".")
        since = submission_time(job_id)
        if since is not None and before(row["Submit"], since):
            continue
        if step:
            if state == "OUT_OF_MEMORY":
                oom_steps.add(job_id)
            continue
        for one in expand_job_id(job_id):
            states[one] = JobState(one, state, row["ExitCode"], row["NodeList"], row["Reason"])
    for job_id in oom_steps:
        job = states.get(job_id)
        if job is not None and job.state in ("FAILED", "COMPLETED"):
            states[job_id] = JobState(job_id, "OUT_OF_MEMORY", job.exit_code, job.node, job.reason)
    return states


def parse_squeue_status(text: str) -> dict[str, JobState]:
    """`squeue -h --states=all -o %i|%T|%M|%r` rows -> {job id: state, time used so far, and
    the reason a pending job waits} (only jobs slurmctld knows; trailing fields may be left
    out)."""
    states: dict[str, JobState] = {}
    for line in text.splitlines():
        job_id, state, used, reason = [*line.strip().split("|", 3), "", "", ""][:4]
        if job_id and state:
            for one in expand_job_id(job_id):
                states[one] = JobState(
                    one, state.split()[0], reason=reason.strip(), elapsed_s=squeue_seconds(used)
                )
    return states


def squeue_seconds(used: str) -> int:
    """squeue's %M, [days-][hours:]minutes:seconds, in seconds (0 for an empty field)."""
    days, _, clock = used.strip().rpartition("-")
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part or 0)
    return seconds + int(days or 0) * 86400


def classify(job: JobState, rule: str, log_path: str, we_cancelled: bool = False) -> Verdict:
    """What a state means for the Snakemake job, with what to do about it."""
    state, code = job.state, job.exit_code
    where = f"slurm job {job.job_id} state {state}" + (f" exit {code}" if code else "")
    see_log = f"; log: {log_path}"
    if state in _WAITING:
        return Verdict(Outcome.RUNNING, state)
    if state == "COMPLETED" and code in ("0:0", ""):
        return Verdict(Outcome.SUCCESS, state)
    hints = {
        "COMPLETED": "the job step ended with a non-zero exit code",
        "FAILED": "the command failed; the log's tail says why",
        "TIMEOUT": (
            f"hit its time limit (and checkpoint requeues, if any, were used up): raise "
            f"`runtime` for rule {rule} in slurm/config.yaml (set-resources)"
        ),
        "OUT_OF_MEMORY": (
            f"over its memory limit: raise `mem_mb` for rule {rule} in slurm/config.yaml "
            f"(set-resources); a retry asks for attempt x mem_mb when the rule scales it"
        ),
        "CANCELLED": (
            "cancelled by this workflow (interrupted)"
            if we_cancelled
            else "cancelled by a user or an admin (scancel); rerun the workflow to resubmit it"
        ),
        "NODE_FAIL": "the node failed (infrastructure, not your code); retried if retries allow",
        "BOOT_FAIL": "the node failed to boot (infrastructure); retried if retries allow",
        "DEADLINE": "its deadline passed before it could run",
        "REVOKED": "revoked by a federated cluster",
    }
    hint = hints.get(state, f"state {state!r} is not a known successful state")
    retriable = state in {"NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "PREEMPTED"}
    return Verdict(Outcome.FAILED, state, f"{state}: {where}: {hint}{see_log}", retriable)
