"""The Snakemake driver as a SLURM job of its own (detached runs: `telepathy submit`): the
sbatch command and the script it runs, the drivers of the same workflow directory already in
the queue, and the default time limit. Pure functions first; the three SLURM calls (sinfo,
squeue, sbatch) at the bottom.

Why the script may run any number of times (SLURM requeues it; a scancel'ed driver is
followed by a second submit): it first removes the lock a killed Snakemake leaves behind,
which is safe because SLURM runs one instance of a job and `find_drivers` lets no second
driver of the directory in while one is queued or running; then it runs Snakemake with
--rerun-incomplete, as a restart after a killed driver does (slurm/README.md). Jobs that
finished meanwhile cleared their own incomplete marks (a job's Snakemake records its outputs
itself), so they are not run again; jobs still queued or running are adopted (recovery.py)
rather than submitted twice, and their outputs are left alone (a job's outputs are deleted
only by the job itself, when it starts).
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.escalation import parse_limits

MAX_MINUTES = 7 * 24 * 60  # the default limit when the partition allows more (or anything)
# squeue states of a job that will not run again; anything else (pending, running, requeued,
# held, suspended, an unknown state) may still run Snakemake in the directory. NODE_FAIL and
# PREEMPTED are not in it: the driver is requeueable, and SLURM requeues it from those.
ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "BOOT_FAIL", "DEADLINE",
                   "OUT_OF_MEMORY", "REVOKED"})  # fmt: skip
STOPPING = "COMPLETING"  # cancelled or ended, its processes not yet gone: the next may wait
SQUEUE_FORMAT = "JobID:|,State:|,STDOUT:|,Comment:"  # comment last: it may hold a "|"


@dataclass(frozen=True)
class DriverJob:
    """A driver of this directory that SLURM still knows."""

    slurm_id: str
    state: str
    log: str  # its output file, %j filled in


@dataclass(frozen=True)
class DriverRequest:
    """What the driver job asks of SLURM, and the Snakemake command it runs."""

    workdir: Path  # absolute: the job's --chdir, and what its comment names
    snakemake_args: tuple[str, ...]
    python: str  # the interpreter that runs `-m snakemake` (the submitting one)
    log: str  # sbatch --output, absolute, may hold %j
    time_min: int
    mem_mb: int
    job_name: str = "snakemake-driver"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    after: tuple[str, ...] = ()  # stopping drivers of the directory to wait for
    keep_env: tuple[str, ...] = ()  # the submitting shell's SLURM_* names (SLURM_CONF always)

    def __post_init__(self) -> None:
        for name in ("time_min", "mem_mb"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"driver {name} must be a whole number > 0, got {value!r}")
        if not self.workdir.is_absolute():
            raise ValueError(f"driver workdir must be absolute, got {self.workdir}")

    @property
    def comment(self) -> str:
        return driver_comment(self.job_name, self.workdir)


def driver_comment(job_name: str, workdir: Path) -> str:
    """The driver's SLURM comment: how the next submit recognises a driver of the directory."""
    return f"{job_name} {workdir}"


def parse_drivers(squeue: str, comment: str) -> list[DriverJob]:
    """The jobs of `squeue -h --states=all -O SQUEUE_FORMAT` output that carry `comment` and
    have not ended (pending, running, requeued, held, stopping)."""
    found = []
    for line in squeue.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) != 4 or parts[3] != comment:
            continue
        slurm_id, state, log, _ = parts
        state = state.split()[0] if state.strip() else "UNKNOWN"
        if state not in ENDED:
            found.append(DriverJob(slurm_id, state, fill_job_id(log, slurm_id)))
    return found


def fill_job_id(log: str, slurm_id: str) -> str:
    """An sbatch --output pattern with the job id in place of %j."""
    return log.replace("%j", slurm_id)


def default_minutes(sinfo: str) -> int:
    """The driver's time limit: the partition's (`sinfo -o %l|%m` rows), at most MAX_MINUTES;
    a driver that SLURM stops at its limit loses no work, but the run stops until resubmitted."""
    limit = parse_limits(sinfo).max_minutes
    return min(limit, MAX_MINUTES) if limit else MAX_MINUTES


def driver_script(request: DriverRequest) -> str:
    """The batch script: run again as a whole after a requeue (see the module's docstring)."""
    args = list(request.snakemake_args)
    snakemake = [request.python, "-m", "snakemake", *args]
    # SLURM_CONF also where the node sets it (configless clusters): the client commands need it
    keep = " ".join(sorted({"SLURM_CONF", *request.keep_env}))
    bin_dir = str(Path(request.python).parent)
    return f"""#!/bin/bash
# The Snakemake driver of {str(request.workdir)!a} (`telepathy submit`); SLURM runs it
# again as a whole after a requeue.
echo "[driver] slurm job $SLURM_JOB_ID, restart ${{SLURM_RESTART_COUNT:-0}}, on $(hostname)"
# Snakemake sees the submitting shell's environment, not this allocation's: its settings
# (SLURM_MEM_PER_NODE, SLURM_OPEN_MODE, SLURM_RESTART_COUNT, ...) would reach every job it
# submits (the plugin drops only the memory and CPU ones: cluster.clean_slurm_env).
keep=" {keep} "
for name in $(compgen -e); do
    [[ $name == SLURM_* && $keep != *" $name "* ]] && unset "$name"
done
# The rules call `python -m telepathy`: the submitting interpreter's, as in its shell.
export PATH={shlex.quote(bin_dir)}:"$PATH"
# A driver killed earlier (scancel, requeue, node failure) left its lock; no other driver of
# this directory runs (SLURM runs one instance of this job; submit refuses a second one).
{shlex.join([*snakemake, "--unlock"])} || exit $?
exec {shlex.join([*snakemake, "--rerun-incomplete"])}
"""


def sbatch_command(request: DriverRequest) -> list[str]:
    """sbatch's arguments; the script goes to its stdin (SLURM keeps a copy for requeues)."""
    command = [
        "sbatch", "--parsable", f"--job-name={request.job_name}",
        f"--comment={request.comment}", f"--chdir={request.workdir}",
        f"--output={request.log}", "--open-mode=append",  # a requeued driver appends
        "--requeue", "--ntasks=1", "--cpus-per-task=1", f"--mem={request.mem_mb}M",
        f"--time={request.time_min}",
    ]  # fmt: skip
    for flag, value in (
        ("partition", request.partition),
        ("account", request.account),
        ("qos", request.qos),
    ):
        if value:
            command.append(f"--{flag}={value}")
    if request.after:
        command.append("--dependency=afterany:" + ":".join(request.after))
    return command


# ----------------------------------------------------------------------------- SLURM calls


def find_drivers(comment: str) -> list[DriverJob]:
    """This user's drivers of the directory that may still run: one squeue call."""
    out = cluster.run_command(["squeue", "-h", "--me", "--states=all", "-O", SQUEUE_FORMAT])
    return parse_drivers(out, comment)


def partition_minutes(partition: str | None) -> int:
    """default_minutes of the partition (None: the cluster's default): one sinfo call."""
    return default_minutes(cluster.partition_sinfo(partition))


def submit(request: DriverRequest) -> str:
    """sbatch the driver; its job id. RuntimeError with sbatch's message if refused."""
    command = sbatch_command(request)
    try:
        proc = subprocess.run(
            command,
            input=driver_script(request),
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"sbatch: {error}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip().split(";")[0]
