"""The plugin's own record of what it submitted: one JSON line per job, appended on submit.

Two uses. A restarted driver (the first one was killed) finds the SLURM job of a Snakemake
job it is asked to run again and adopts it instead of submitting a duplicate. And the GPU
accounting maps array tasks, which share one SLURM job name, back to their wildcards.
Lines are appended with one write each (O_APPEND), so a killed driver leaves whole lines.

Before each sbatch the driver also appends an intent (intents.jsonl): the jobs it is about to
submit, under an id that the SLURM job carries as its comment. A driver killed after sbatch
accepted the jobs but before their submission line was written leaves an intent that no
submission resolves; the next driver finds those jobs with one squeue and adopts them
(`Executor._reconcile`), so that no run is submitted twice.
"""

from __future__ import annotations

import contextlib
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
    intent: str = ""  # the intent it resolves (see the module's docstring)
    escalated_from: str = ""  # the SLURM job it retries with a larger request
    escalation: str = ""  # what was raised, e.g. "runtime 60 -> 120 min" (escalation.py)

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
    escalation: str = ""  # set once the job was resubmitted with a larger request


@dataclass(frozen=True)
class Intent:
    """Jobs about to be submitted in one sbatch (task i of an array is keys[i])."""

    intent: str  # also the SLURM job's comment: INTENT_PREFIX + intent
    run_id: str
    rule: str
    folder: str
    keys: list[str]
    wildcards: list[dict[str, str]]
    at: float
    time_min: int = 0
    gpus: int = 0
    gpu_model: str | None = None
    partition: str | None = None
    escalated_from: str = ""
    escalation: str = ""

    @property
    def comment(self) -> str:
        return INTENT_PREFIX + self.intent


INTENT_PREFIX = "submitit-intent:"


@dataclass(frozen=True)
class _Closed:
    closed: str  # an intent's id


def job_key(rule: str, wildcards: dict[str, str], outputs: list[str]) -> str:
    parts = [rule, *(f"{k}={v}" for k, v in sorted(wildcards.items())), *sorted(outputs)]
    return "\x1f".join(parts)


def _append_lines(path: Path, records: list[Any]) -> None:
    """One O_APPEND write, fsynced: a killed driver leaves whole lines."""
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in records)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path, kind: type) -> list[Any]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(kind(**json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue  # a torn last line from a crash: that record is not usable
    return records


class SubmissionRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.intents_path = path.with_name("intents.jsonl")

    def append(self, submissions: list[Submission]) -> None:
        _append_lines(self.path, submissions)

    def read(self) -> list[Submission]:
        return _read_lines(self.path, Submission)

    def record_intent(self, intent: Intent) -> None:
        _append_lines(self.intents_path, [intent])

    def close_intents(self, intents: list[str]) -> None:
        """Intents known not to have reached SLURM (sbatch refused them, or a reconciling
        squeue found no job): never looked for again."""
        _append_lines(self.intents_path, [_Closed(i) for i in intents])

    def unresolved_intents(self, current_run: str) -> list[Intent]:
        """Earlier drivers' intents that neither a submission line nor a close resolves:
        sbatch may have accepted them before the driver died."""
        resolved = {s.intent for s in self.read() if s.intent}
        intents = []
        for record in _read_lines(self.intents_path, dict):  # intents and closes, one read
            if "closed" in record:
                resolved.add(record["closed"])
            else:
                with contextlib.suppress(TypeError):
                    intents.append(Intent(**record))
        return [i for i in intents if i.intent not in resolved and i.run_id != current_run]

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
