"""What a finished job left behind, read back for the driver: submitit's result file, and the
message a failure is reported with (the job's own error and the tail of its log)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LOG_TAIL_LINES = 15


def read_result(folder: Path, slurm_id: str) -> tuple[str, Any] | None:
    """submitit's result file: ("success", value) or ("error", traceback); None if absent."""
    path = folder / f"{slurm_id}_0_result.pkl"
    if not path.exists():
        return None
    from submitit.core.utils import pickle_load

    try:
        return pickle_load(path)
    except Exception:  # being written right now (submitit renames into place, but NFS...)
        return None


def result_error(traceback: str, slurm_id: str, rule: str, log: str) -> str:
    """The message for a job whose command failed: a time limit it could not requeue past
    (and the setting to raise), or the traceback's last line; with the log's tail."""
    text = str(traceback)
    if "Job not requeued because" in text or "stopped at SLURM's pre-timeout signal" in text:
        reason = (
            text.split("Job not requeued because:")[-1].strip().splitlines()[0]
            if "Job not requeued because" in text
            else "stopped at the pre-timeout signal; this rule cannot checkpoint"
        )
        return (
            f"TIMEOUT: slurm job {slurm_id} reached its time limit and was not requeued "
            f"({reason}): raise `runtime` for rule {rule} in slurm/config.yaml "
            f"(set-resources); log: {log}" + log_tail(log)
        )
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [text]
    return f"FAILED: slurm job {slurm_id}: {last[0].strip()}; log: {log}" + log_tail(log)


# The first line of the job's own error as Snakemake or Python write it: "MissingOutputException
# in rule ...", "RuleException:", "ValueError: ...", "Error in rule train_bridge:".
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)\b|Error in rule \S+:)")
EXCERPT_LINES = 8


def error_excerpt(lines: list[str], tail_start: int) -> list[str]:
    """The lines of the job's first error (up to a blank line), when they sit above the tail
    that the message shows anyway; [] otherwise."""
    for i, line in enumerate(lines[:tail_start]):
        if _ERROR_LINE.match(line):
            excerpt = []
            for follow in lines[i : min(i + EXCERPT_LINES, tail_start)]:
                if not follow.strip():
                    break
                excerpt.append(follow)
            return excerpt
    return []


# What slurmstepd and srun write into the job's log when the cgroup's OOM killer hits the step
# (test cluster: "slurmstepd-vm: error: Detected 1 oom-kill event(s) in StepId=138.0. ..." and
# "srun: error: vm: task 0: Out Of Memory").
_OOM_LINE = re.compile(
    r"Detected \d+ oom-kill event\(s\) in StepId=|srun: error: .*: Out Of Memory"
)


def oom_killed(log: str) -> bool:
    """Whether the job's log says that the OOM killer hit its step. sacct can show the job
    FAILED before it shows the step OUT_OF_MEMORY (once in a whole `make test`: the memory
    test's job was reported as a code error, not escalated); the log cannot lag, since srun
    wrote it before it exited and submitit wrote the result file."""
    try:
        return any(
            _OOM_LINE.search(line) for line in Path(log).read_text(errors="replace").splitlines()
        )
    except OSError:
        return False


def host_failure(name: str, code: int, log: str) -> str:
    """The message for a job run on the submitting host whose command failed."""
    return f"FAILED: {name} exited with code {code} on this host; log: {log}" + log_tail(log)


def log_tail(log: str, lines: int = LOG_TAIL_LINES) -> str:
    """The job's own error lines (where the log's end does not show them: submitit's traceback
    buries Snakemake's MissingOutputException tens of lines up) and the log's last lines, each
    headed, for an error message ('' if unreadable)."""
    try:
        text = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    tail_start = max(0, len(text) - lines)
    excerpt = error_excerpt(text, tail_start)
    head = "\n--- the job's error ---\n" + "\n".join(excerpt) if excerpt else ""
    return head + "\n--- last lines of the job log ---\n" + "\n".join(text[tail_start:])
