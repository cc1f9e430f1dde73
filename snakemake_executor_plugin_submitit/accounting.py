"""GPU time actually used, from SLURM accounting: every requeued segment counted.

`sacct -X --duplicates` lists one record per allocation *segment*: a job that was preempted or
hit its time limit and requeued itself appears once per run under the same job id. Summing
only the last segment (what plain `sacct` shows) under-reports what a preemptible run cost.
Pure parsing and summing here; the CLI runs sacct or reads its saved output.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snakemake_executor_plugin_submitit.states import SubmissionTimes, before

# Fields requested from sacct, in this order, with --parsable2 (| separated, no trailing |).
SACCT_FIELDS = (
    "JobIDRaw",
    "JobID",
    "JobName",
    "Partition",
    "State",
    "ExitCode",
    "ElapsedRaw",
    "AllocTRES",
    "Start",
    "End",
)
_GPU_TRES = re.compile(r"gres/gpu(?::(?P<model>[^=,]+))?=(?P<count>\d+)")


def job_name(rule: str, wildcards: dict[str, str]) -> str:
    """SLURM job name `<rule>-<k=v,...>`: the accounting groups by rule and wildcards from it."""
    if "-" in rule:
        raise ValueError(f"rule name {rule!r} contains '-', which separates rule and wildcards")
    return rule + ("-" + ",".join(f"{k}={v}" for k, v in wildcards.items()) if wildcards else "")


def array_job_name(rule: str, wildcards: list[dict[str, str]]) -> str:
    """job_name of a submission of one or more jobs of a rule: an array's tasks share one
    name, made of the wildcards they all share."""
    common = dict(wildcards[0])
    for other in wildcards[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return job_name(safe_name(rule), common)


def safe_name(name: str) -> str:
    """A name for SLURM and the file system: anything but letters, digits, `_` and `.` as `_`."""
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)


def parse_job_name(name: str) -> tuple[str, dict[str, str]]:
    """Inverse of job_name; names not made by it come back as (name, {})."""
    rule, _, rest = name.partition("-")
    wildcards = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    return rule, wildcards


@dataclass(frozen=True)
class Segment:
    """One allocation segment of a job (a requeued job has several)."""

    job_id: str
    array_job_id: str  # e.g. 123_4 for array task 4; equals job_id otherwise
    name: str
    partition: str
    state: str
    exit_code: str
    elapsed_s: int
    gpus: int
    gpu_model: str | None
    start: str
    end: str


def gpus_from_tres(tres: str) -> tuple[int, str | None]:
    """GPU count and model from AllocTRES, e.g. 'cpu=8,gres/gpu:h100=1,gres/gpu=1,mem=64G'."""
    count, model = 0, None
    for match in _GPU_TRES.finditer(tres):
        if match.group("model"):
            model = match.group("model")
            count = max(count, int(match.group("count")))
        else:
            count = max(count, int(match.group("count")))
    return count, model


def parse_sacct(text: str) -> list[Segment]:
    """Parse `sacct -X --duplicates --parsable2 --noheader --format=<SACCT_FIELDS>` output."""
    segments = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(SACCT_FIELDS):
            raise ValueError(
                f"sacct line {number} has {len(fields)} fields, expected {len(SACCT_FIELDS)} "
                f"({','.join(SACCT_FIELDS)}): {line!r}"
            )
        row = dict(zip(SACCT_FIELDS, fields, strict=True))
        gpus, model = gpus_from_tres(row["AllocTRES"])
        segments.append(
            Segment(
                job_id=row["JobIDRaw"],
                array_job_id=row["JobID"],
                name=row["JobName"],
                partition=row["Partition"],
                state=row["State"].split()[0] if row["State"] else "",
                exit_code=row["ExitCode"],
                elapsed_s=int(row["ElapsedRaw"] or 0),
                gpus=gpus,
                gpu_model=model,
                start=row["Start"],
                end=row["End"],
            )
        )
    return segments


def own_segments(segments: list[Segment], submitted_at: Mapping[str, float]) -> list[Segment]:
    """The segments of the submitted jobs, without older jobs of the same ids. SLURM numbers
    jobs anew once a controller's state is reset, and its accounting keeps the older jobs:
    `sacct -j 7 --duplicates` (which the requeued segments need) lists every job that was ever
    7, by its own id or as an array task's raw id. A segment is this record's if its id (or
    its array's) was submitted and it did not start before that. `submitted_at`: epoch seconds
    per SLURM id (123 or 123_4); empty keeps everything."""
    if not submitted_at:
        return list(segments)
    kept = []
    submission_time = SubmissionTimes(submitted_at)
    for seg in segments:
        since = submission_time(seg.array_job_id)
        if since is not None and not before(seg.start, since):
            kept.append(seg)
    return kept


def _job_totals(
    segments: list[Segment], submissions: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per SLURM job, every segment summed (a requeued job has several): elapsed, GPU-hours,
    states, and with the plugin's record the GPU-hours asked for (once per segment)."""
    jobs: dict[str, dict[str, Any]] = {}
    for seg in segments:
        rule, wildcards = parse_job_name(seg.name)
        submitted = submissions.get(seg.array_job_id)
        if submitted is not None:  # exact, also for array tasks
            rule, wildcards = submitted["rule"], submitted["wildcards"]
        job = jobs.setdefault(
            seg.job_id,
            {
                "job_id": seg.job_id,
                "array_job_id": seg.array_job_id,
                "name": seg.name,
                "rule": rule,
                "wildcards": wildcards,
                "partition": seg.partition,
                "segments": 0,
                "elapsed_s": 0,
                "gpu_hours": 0.0,
                "gpus": seg.gpus,
                "gpu_model": seg.gpu_model,
                "states": [],
            },
        )
        job["segments"] += 1
        job["elapsed_s"] += seg.elapsed_s
        job["gpu_hours"] += seg.elapsed_s * seg.gpus / 3600
        if submitted is not None:
            job["requested_gpu_hours"] = job.get("requested_gpu_hours", 0.0) + (
                submitted.get("time_min", 0) / 60 * submitted.get("gpus", 0)
            )
            if submitted.get("escalation"):  # the plugin's retry with a larger request
                job["escalation"] = f"{submitted['escalation']} after {submitted['escalated_from']}"
        job["states"].append(seg.state)
        job["gpu_model"] = job["gpu_model"] or seg.gpu_model
    for job in jobs.values():
        job["restarts"] = job["segments"] - 1
        job["final_state"] = job["states"][-1]
    return jobs


def _group(jobs: dict[str, dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The jobs summed per rule (`key` "rule") or per dataset wildcard (`key` "dataset")."""
    totals: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"jobs": 0, "segments": 0, "restarts": 0, "escalated": 0, "elapsed_hours": 0.0,
                 "gpu_hours": 0.0}
    )  # fmt: skip
    for job in jobs.values():
        name = job["rule"] if key == "rule" else job["wildcards"].get("dataset", "-")
        row = totals[name]
        row["jobs"] += 1
        row["segments"] += job["segments"]
        row["restarts"] += job["restarts"]
        row["escalated"] += 1 if job.get("escalation") else 0
        row["elapsed_hours"] += job["elapsed_s"] / 3600
        row["gpu_hours"] += job["gpu_hours"]
        if "requested_gpu_hours" in job:
            row["requested_gpu_hours"] = (
                row.get("requested_gpu_hours", 0.0) + job["requested_gpu_hours"]
            )
    return [{key: name, **row} for name, row in sorted(totals.items())]


def summarise_usage(
    segments: list[Segment],
    submissions: dict[str, dict[str, Any]] | None = None,
    plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per job (all its segments), per rule and per dataset: elapsed, GPU-hours, restarts.

    With the plugin's submissions (`SubmissionRegistry.by_slurm_id`), each job also carries
    what it asked for (time limit x GPUs, once per segment: a requeued job asks again); with a
    `telepathy plan` JSON, each rule carries the GPU-hours planned before the run.
    """
    submissions = submissions or {}
    submitted_at = {i: s.get("submitted_at", 0.0) for i, s in submissions.items()}
    jobs = _job_totals(own_segments(segments, submitted_at), submissions)
    by_rule = _group(jobs, "rule")
    if plan is not None:
        planned = {row["rule"]: row["gpu_hours"] for row in plan["rules"]}
        for row in by_rule:
            row["planned_gpu_hours"] = planned.get(row["rule"], 0.0)
    return {
        "jobs": list(jobs.values()),
        "by_rule": by_rule,
        "by_dataset": _group(jobs, "dataset"),
        "gpu_hours": sum(job["gpu_hours"] for job in jobs.values()),
        "planned_gpu_hours": plan["gpu_hours"] if plan is not None else None,
    }


def format_usage(usage: dict[str, Any]) -> str:
    """GPU-hours used per rule and per dataset (beside planned and requested), as text."""
    lines = []
    for key, rows in (("rule", usage["by_rule"]), ("dataset", usage["by_dataset"])):
        extra = [c for c in ("planned_gpu_hours", "requested_gpu_hours") if rows and c in rows[0]]
        heads = {"planned_gpu_hours": "GPU-h planned", "requested_gpu_hours": "GPU-h asked"}
        lines.append(
            f"{key:<22}{'jobs':>6}{'segments':>10}{'restarts':>10}{'escalated':>11}"
            + "".join(f"{heads[c]:>15}" for c in extra)
            + f"{'GPU-h used':>12}"
        )
        for row in rows:
            lines.append(
                f"{row[key]:<22}{row['jobs']:>6}{row['segments']:>10}{row['restarts']:>10}"
                f"{row.get('escalated', 0):>11}"
                + "".join(f"{row.get(c, 0.0):>15.3f}" for c in extra)
                + f"{row['gpu_hours']:>12.3f}"
            )
        lines.append("")
    escalated = [job for job in usage["jobs"] if job.get("escalation")]
    for job in escalated:  # each retry the plugin made with a larger request, and why
        lines.append(f"escalated: {job['rule']} job {job['job_id']}: {job['escalation']}")
    if escalated:
        lines.append("")
    if usage.get("planned_gpu_hours") is not None:
        lines.append(f"total GPU-hours planned: {usage['planned_gpu_hours']:.3f}")
    lines.append(f"total GPU-hours used: {usage['gpu_hours']:.3f}")
    return "\n".join(lines)


def run_sacct(job_ids: list[str], since: str = "2000-01-01") -> str:
    """Query SLURM accounting once for every job id, all segments of requeued jobs included.

    Array tasks are asked for by their parent id (one id brings every task).
    """
    import subprocess

    parents = sorted({job_id.split("_")[0] for job_id in job_ids})
    proc = subprocess.run(
        [
            "sacct",
            "-X",
            "--duplicates",
            "--parsable2",
            "--noheader",
            f"--format={','.join(SACCT_FIELDS)}",
            "-S",
            since,
            "-j",
            ",".join(parents),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sacct failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout
