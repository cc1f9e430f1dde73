"""The plugin's own record of what it submitted: one JSON line per job, appended on submit.

Two uses. A restarted driver (the first one was killed) finds the SLURM job of a Snakemake
job it is asked to run again and adopts it instead of submitting a duplicate. And the GPU
accounting maps array tasks, which share one SLURM job name, back to their wildcards.
Lines are appended with one write each (O_APPEND), so a killed driver leaves whole lines.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Submission:
    key: str  # rule + wildcards + outputs: the same key means the same Snakemake job
    slurm_id: str  # 123 or 123_4
    rule: str
    wildcards: dict[str, str]
    log: str  # the job's log file (stdout and stderr)
    folder: str  # submitit folder holding its pickles
    submitted_at: float
    run_id: str  # which driver run submitted it
    # what was asked of SLURM, for planned-vs-used accounting (`telepathy gpu-usage`)
    time_min: int = 0
    gpus: int = 0
    gpu_model: str | None = None
    partition: str | None = None

    @classmethod
    def unknown(cls, slurm_id: str, rule: str, log: str) -> Submission:
        """Stands in for a job this driver has no record of (should not happen)."""
        return cls("", slurm_id, rule, {}, log, "", 0.0, "")


@dataclass
class Tracked:
    """What the driver knows of a submission it waits on, besides SLURM's state."""

    submission: Submission
    missing_since: float | None = None
    waiting_since: float | None = None  # PREEMPTED / held: waiting for a requeue
    completed_since: float | None = None  # one source says it ended, waiting for the other
    infra_retries: int = 0  # resubmissions after NODE_FAIL / BOOT_FAIL
    held_reason: str | None = None  # the hold the user was last told about


def job_key(rule: str, wildcards: dict[str, str], outputs: list[str]) -> str:
    parts = [rule, *(f"{k}={v}" for k, v in sorted(wildcards.items())), *sorted(outputs)]
    return "\x1f".join(parts)


class SubmissionRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, submissions: list[Submission]) -> None:
        if not submissions:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(asdict(s), sort_keys=True) + "\n" for s in submissions)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Submission]:
        if not self.path.exists():
            return []
        submissions = []
        for line in self.path.read_text().splitlines():
            try:
                submissions.append(Submission(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a torn last line from a crash: that submission is not adoptable
        return submissions

    def latest_by_key(self) -> dict[str, Submission]:
        latest: dict[str, Submission] = {}
        for submission in self.read():
            latest[submission.key] = submission  # later lines are newer
        return latest

    def by_slurm_id(self) -> dict[str, dict[str, Any]]:
        """Every submission by SLURM job id, as plain dicts: GPU accounting names each array
        task's rule and wildcards from it (tasks of one array share a job name), and what each
        job asked for (time limit, GPUs). A later line for the same id wins."""
        return {s.slurm_id: asdict(s) for s in self.read()}
