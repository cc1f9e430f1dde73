"""The SLURM commands the executor runs: sacct and squeue for job states, scontrol for the
configuration (the array limit), scancel; and the driver environment that must not leak into
submissions.

Each query is one call for every job of a status round (chunked only past argument-length
limits), so the controller load does not grow with the number of jobs polled.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping

from snakemake_executor_plugin_submitit.states import (
    SACCT_STATUS_FIELDS,
    JobState,
    expand_job_id,
    parse_sacct_status,
    parse_squeue_status,
)

# sbatch answers that mean "try again", not "your request is wrong" (pitfall 7).
TRANSIENT_SBATCH_ERRORS = (
    "Socket timed out",
    "Unexpected message",
    "Resource temporarily unavailable",
    "Connection refused",
    "Slurm temporarily unable",
    "Zero Bytes were transmitted",
)
QUERY_CHUNK = 400  # job ids per sacct call, well under argument-length limits
DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's default MaxArraySize
_DRIVER_ENV_DROP = ("SLURM_MEM_PER_CPU", "SLURM_MEM_PER_GPU", "SLURM_MEM_PER_NODE",
                    "SLURM_CPUS_PER_TASK", "SLURM_NTASKS", "SLURM_NPROCS", "SLURM_JOB_ID",
                    "SLURM_JOBID", "SLURM_CPU_BIND", "SLURM_GPUS_ON_NODE", "SLURM_OPEN_MODE",
                    "SLURM_RESTART_COUNT")  # fmt: skip


def next_poll_delay(interval: int, current: int | None, finished: bool) -> int:
    """Seconds to the next status round: `interval` again soon after something finished,
    else 10 s more each round up to 6x the interval (and 180 s at most), so that a quiet queue
    costs the controller less while a short poll interval stays short."""
    if finished or current is None:
        return interval
    return min(current + 10, max(interval, min(180, 6 * interval)))


def is_transient(error: Exception) -> bool:
    """Whether an sbatch failure is the controller being busy (retry), not a bad request."""
    return any(text in str(error) for text in TRANSIENT_SBATCH_ERRORS)


def query_sacct(
    ids: list[str], since: float, submitted_at: Mapping[str, float] | None = None
) -> dict[str, JobState]:
    """One sacct query (chunked) for all ids; array tasks asked for by their parent id. With
    `submitted_at` (epoch seconds per id), an older job of the same id is never taken for
    the submitted one (states.before)."""
    wanted = sorted({i.split("_")[0] for i in ids})
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 3600))
    states: dict[str, JobState] = {}
    for begin in range(0, len(wanted), QUERY_CHUNK):
        chunk = wanted[begin : begin + QUERY_CHUNK]
        # no -X: the steps' rows tell an OOM-killed step (see parse_sacct_status)
        command = ["sacct", "--parsable2", "--noheader", "-S", start, "-j", ",".join(chunk),
                   "--format=" + ",".join(SACCT_STATUS_FIELDS)]  # fmt: skip
        states.update(parse_sacct_status(run_command(command), submitted_at))
    return states


def query_squeue(ids: list[str]) -> dict[str, JobState]:
    """The controller's view of the jobs (when accounting is down, or for what it lags behind):
    one squeue call."""
    wanted = sorted({i.split("_")[0] for i in ids})
    command = ["squeue", "-h", "--states=all", "--jobs", ",".join(wanted), "-o", "%i|%T|%M|%r"]
    return parse_squeue_status(run_command(command))


def jobs_by_comment() -> dict[str, set[str]]:
    """This user's jobs, queued, running or just ended, by their comment: {comment: {slurm job
    id (array tasks as 123_4), ...}}. One squeue call. (Not filtered by job name: `--name`
    splits at commas, and our names hold them, `rule-k=v,k=v`.)"""
    out = run_command(["squeue", "-h", "--me", "--states=all", "-o", "%i|%k"])
    found: dict[str, set[str]] = {}
    for line in out.splitlines():
        job_id, sep, comment = line.strip().partition("|")
        if sep and comment:
            found.setdefault(comment, set()).update(expand_job_id(job_id))
    return found


def query_states_now(
    ids: list[str],
    since: float,
    warn: Callable[[str], None],
    submitted_at: Mapping[str, float] | None = None,
) -> dict[str, JobState]:
    """sacct, then one squeue for the ids sacct does not list yet (slurmdbd lags a few seconds
    behind a job's start, the controller does not) and for the pending ones (see
    with_pending_reasons). Ids neither knows are left out."""
    states = query_sacct(ids, since, submitted_at)
    unseen = [i for i in ids if i not in states]
    try:
        return with_pending_reasons(states, also=unseen)
    except RuntimeError as error:
        if unseen:
            warn(f"submitit: squeue failed ({error}); resubmitting {unseen}")
        return states


def with_pending_reasons(states: dict[str, JobState], also: list[str] = ()) -> dict[str, JobState]:
    """The states with each pending job's state and reason as the controller has them now, from
    one squeue call (none when nothing pends): sacct keeps the reason a job had when it was
    submitted, so only squeue says that it is held (JobHeldAdmin/JobHeldUser) since. `also`:
    more ids to ask for in the same call. Raises RuntimeError if squeue fails."""
    wanted = [i for i, s in states.items() if s.state == "PENDING"] + list(also)
    if not wanted:
        return states
    now = query_squeue(wanted)
    return {**states, **{i: now[i] for i in wanted if i in now}}


@functools.cache
def read_config() -> dict[str, str]:
    """`scontrol show config` as {key: value}; empty when scontrol cannot run. Read once per
    driver (2 controller RPCs): the array limit and the submit limits both come from it."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        key.strip(): value.strip()
        for key, sep, value in (line.partition("=") for line in out.splitlines())
        if sep
    }


def read_max_array_size() -> int:
    """The cluster's MaxArraySize (`scontrol show config`); SLURM's default if unreadable."""
    try:
        return int(read_config().get("MaxArraySize", DEFAULT_MAX_ARRAY_SIZE))
    except ValueError:
        return DEFAULT_MAX_ARRAY_SIZE


def partition_sinfo(partition: str | None) -> str:
    """`%l|%m` (time limit, node memory in MiB) per node configuration of the partition, or
    of the cluster's default partition when None (escalation.parse_limits reads it)."""
    if partition:
        return run_command(["sinfo", "-h", "-p", partition, "-o", "%l|%m"])
    rows = run_command(["sinfo", "-h", "-o", "%P|%l|%m"]).splitlines()
    return "\n".join(r.split("|", 1)[1] for r in rows if r.split("|", 1)[0].endswith("*"))


def cancel(ids: list[str]) -> None:
    """scancel the jobs (one call); raises OSError or TimeoutExpired if it cannot run."""
    subprocess.run(["scancel", *ids], check=False, timeout=60)


def run_command(command: list[str]) -> str:
    """A SLURM query's stdout; RuntimeError (with its stderr) when it fails or hangs."""
    try:
        proc = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"{command[0]}: {error}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return proc.stdout


@contextlib.contextmanager
def clean_slurm_env() -> Iterator[None]:
    """A driver running inside a SLURM allocation must not leak its allocation's settings
    (e.g. SLURM_MEM_PER_CPU) into the jobs it submits (smk#2230); SLURM_CONF stays."""
    saved = {k: os.environ.pop(k) for k in _DRIVER_ENV_DROP if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
