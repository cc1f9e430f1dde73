"""Where a protocol's grid stands, mid-run or after: `telepathy status`.

Per paper table and per dataset, how many runs are done, running, pending, failed and not yet
submitted; GPU-hours used so far (every requeued segment), asked for by what is queued or
running, and planned for what is still to submit; and a rough time to finish.

Pure: the command gathers the facts (which result files exist, the executor plugin's record
of what it submitted, one sacct or squeue answer, a dry run's remaining jobs, the training
jobs' metrics logs) and this module only combines them, so every count is testable.

A run's state comes from its result files (a bridge has two: training, then evaluation). A
file that exists is done; otherwise the newest submission that writes it says, through SLURM's
state of that job, whether it is pending, running or failed; no submission: not submitted.
The run is done when every file is, else running, pending, failed or not submitted, in that
order of precedence (a bridge whose training finished and whose evaluation waits is pending).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telepathy.grid import (
    BaselineRun,
    BridgeRun,
    Grid,
    LatencyRun,
    baseline_result_path,
    latency_result_path,
    product_runs,
    products,
    run_result_paths,
)

STATES = ("done", "running", "pending", "failed", "not submitted")
RUNNING = {
    "RUNNING",
    "COMPLETING",
    "CONFIGURING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "RESIZING",
    "STOPPED",
}
PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "PREEMPTED"}
# How an ETA is built when a rule has no finished job yet: its requested time, an upper bound.
FALLBACK = "requested time"


@dataclass(frozen=True)
class SlurmJob:
    """One SLURM job (an array task counts as one) as the single controller query saw it."""

    job_id: str  # 123 or 123_4
    state: str  # the newest segment's state
    elapsed_s: int = 0  # every segment summed (live for a running one)
    gpu_hours: float = 0.0  # every segment summed


@dataclass
class Submitted:
    """What the plugin recorded for one submission (registry.Submission, as a dict)."""

    slurm_id: str
    rule: str
    outputs: tuple[str, ...]
    time_min: int
    gpus: int
    submitted_at: float
    wildcards: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunUnit:
    """One run of the grid as status counts it: its result files, dataset and tables."""

    label: str
    dataset: str
    paths: tuple[str, ...]
    tables: list[str] = field(default_factory=list)
    run: BridgeRun | BaselineRun | LatencyRun | None = None


def result_paths(run: BridgeRun | BaselineRun | LatencyRun, protocol: str) -> tuple[str, ...]:
    if isinstance(run, BridgeRun):
        return run_result_paths(protocol, run)
    if isinstance(run, BaselineRun):
        return (baseline_result_path(protocol, run),)
    return (latency_result_path(protocol, run),)


def grid_units(grid: Grid, protocol: str) -> list[RunUnit]:
    """Every run of the grid, each with the paper tables (and figures) that show it."""
    units: dict[tuple[str, ...], RunUnit] = {}
    everything = [*grid.runs.values(), *grid.baselines.values(), *grid.latency.values()]
    for run in everything:
        paths = result_paths(run, protocol)
        dataset = run.bridge.dataset if isinstance(run, LatencyRun) else run.dataset
        units[paths] = RunUnit(
            paths[-1].split("/", 2)[2].rsplit("/", 1)[0], dataset, paths, run=run
        )
    for product in products(grid):
        for run in product_runs(product, grid):
            units[result_paths(run, protocol)].tables.append(product.name)
    return list(units.values())


def submissions_from_registry(records: Iterable[Mapping[str, Any]]) -> list[Submitted]:
    """The registry's lines (SubmissionRegistry.read, as dicts), outputs read from each key."""
    out = []
    for r in records:
        parts = r["key"].split("\x1f")
        outputs = tuple(parts[1 + len(r.get("wildcards") or {}) :])
        out.append(
            Submitted(
                r["slurm_id"],
                r["rule"],
                outputs,
                int(r.get("time_min") or 0),
                int(r.get("gpus") or 0),
                float(r.get("submitted_at") or 0.0),
                dict(r.get("wildcards") or {}),
            )
        )
    return out


def slurm_jobs_from_sacct(segments: Iterable[Any], expand: Callable[[str], list[str]]) -> dict:
    """SlurmJob per job id from `sacct -X --duplicates` segments (accounting.Segment): the
    newest segment's state, the others' time added. A pending array's one line (123_[0-3])
    stands for each of its tasks."""
    jobs: dict[str, SlurmJob] = {}
    for seg in segments:
        for job_id in expand(seg.array_job_id):
            old = jobs.get(job_id)
            elapsed = seg.elapsed_s + (old.elapsed_s if old else 0)
            gpu_h = seg.elapsed_s * seg.gpus / 3600 + (old.gpu_hours if old else 0.0)
            jobs[job_id] = SlurmJob(job_id, seg.state, elapsed, gpu_h)
    return jobs


def file_state(
    path: str,
    exists: Callable[[str], bool],
    newest: Mapping[str, Submitted],
    jobs: Mapping[str, SlurmJob],
) -> str:
    if exists(path):
        return "done"
    submitted = newest.get(path)
    if submitted is None:
        return "not submitted"
    job = jobs.get(submitted.slurm_id)
    if job is None:  # accounting lags a few seconds behind sbatch
        return "pending"
    if job.state in RUNNING:
        return "running"
    if job.state in PENDING:
        return "pending"
    return "failed"  # ended (COMPLETED without its file counts too: the rule failed)


def run_state(states: list[str]) -> str:
    if all(s == "done" for s in states):
        return "done"
    for state in ("running", "pending", "failed"):
        if state in states:
            return state
    return "not submitted"


def _count_rows(units: list[RunUnit], states: Mapping[str, str], key: str) -> list[dict]:
    rows: dict[str, Counter] = {}
    for unit in units:
        names = unit.tables if key == "table" else [unit.dataset]
        for name in names:
            rows.setdefault(name, Counter())[states[unit.label]] += 1
    return [
        {key: name, "runs": sum(c.values()), **{s: c[s] for s in STATES}}
        for name, c in rows.items()
    ]


def remaining_seconds(
    todo: list[tuple[str, int, str]],
    durations: Mapping[str, list[int]],
    requested_s: Mapping[str, int],
    training_left: Mapping[str, float],
) -> tuple[float, dict[str, str]]:
    """Job-seconds still to run. `todo` holds (rule, elapsed so far, slurm id or "") for every
    running, queued or not yet submitted job; a running training job's rest comes from its own
    measured step rate (`training_left`, by slurm id), any other job's from its rule's finished
    jobs (mean duration), else from its requested time. Also says what each rule used."""
    total, bases = 0.0, {}
    for rule, elapsed, slurm_id in todo:
        if slurm_id in training_left:
            total += training_left[slurm_id]
            how = "measured step rate"
        elif durations.get(rule):
            total += max(sum(durations[rule]) / len(durations[rule]) - elapsed, 0.0)
            how = f"mean of {len(durations[rule])} finished job(s)"
        else:
            total += max(requested_s.get(rule, 0) - elapsed, 0)
            how = FALLBACK
        bases.setdefault(rule, []).append(how)
    basis = {rule: " and ".join(dict.fromkeys(hows)) for rule, hows in bases.items()}
    return total, basis


def summarise_status(
    grid: Grid,
    protocol: str,
    exists: Callable[[str], bool],
    submissions: list[Submitted],
    jobs: Mapping[str, SlurmJob],
    remaining_jobs: list[dict[str, Any]],
    training_left: Mapping[str, float],
    query: str,
) -> dict[str, Any]:
    """Everything `telepathy status` shows (see the module's docstring).

    `remaining_jobs`: a dry run's jobs (plan.parse_dry_run, with their outputs), i.e. what
    Snakemake would still run; those with no queued or running submission are the ones not yet
    submitted, whose requested GPU-hours are the plan for the rest.
    """
    newest: dict[str, Submitted] = {}
    for s in sorted(submissions, key=lambda s: s.submitted_at):
        for path in s.outputs:
            newest[path] = s
    units = grid_units(grid, protocol)
    states = {
        u.label: run_state([file_state(p, exists, newest, jobs) for p in u.paths]) for u in units
    }
    latest = {s.slurm_id: s for s in submissions}
    active = {i: latest[i] for i, j in jobs.items() if i in latest and j.state in RUNNING | PENDING}
    active_outputs = {p for s in active.values() for p in s.outputs}
    # local rules run inside the driver (merges, tables): no SLURM job, no GPU, seconds
    unsubmitted = [
        j
        for j in remaining_jobs
        if not j.get("local") and not set(j.get("outputs", [])) & active_outputs
    ]
    planned = sum(
        float(j["resources"].get("runtime", 0)) / 60 * float(j["resources"].get("gpu", 0))
        for j in unsubmitted
    )
    durations: dict[str, list[int]] = {}
    for slurm_id, job in jobs.items():
        if job.state == "COMPLETED" and slurm_id in latest:
            durations.setdefault(latest[slurm_id].rule, []).append(job.elapsed_s)
    requested_s = {s.rule: s.time_min * 60 for s in submissions}
    todo = [(s.rule, jobs[i].elapsed_s, i) for i, s in active.items()]
    for job in unsubmitted:
        requested_s.setdefault(job["rule"], int(float(job["resources"].get("runtime", 0)) * 60))
        todo.append((job["rule"], 0, ""))
    left_s, basis = remaining_seconds(todo, durations, requested_s, training_left)
    running_now = sum(1 for i in active if jobs[i].state in RUNNING)
    return {
        "protocol": protocol,
        "query": query,
        "runs": len(units),
        "by_state": dict(Counter(states.values())),
        "by_table": _count_rows(units, states, "table"),
        "by_dataset": _count_rows(units, states, "dataset"),
        "run_states": states,
        "gpu_hours_used": sum(j.gpu_hours for i, j in jobs.items() if i in latest),
        "gpu_hours_requested_active": sum(s.time_min / 60 * s.gpus for s in active.values()),
        "gpu_hours_planned_unsubmitted": planned,
        "jobs_running": running_now,
        "jobs_queued": len(active) - running_now,
        "jobs_not_submitted": len(unsubmitted),
        "job_seconds_left": left_s,
        # the jobs left share the slots running now (at least one): a rough time to finish
        "eta_s": left_s / max(running_now, 1),
        "eta_basis": basis,
    }


def format_status(status: Mapping[str, Any]) -> str:
    """The status as a text table: per table, per dataset, then GPU-hours and the ETA."""
    lines = []
    for key, rows in (("table", status["by_table"]), ("dataset", status["by_dataset"])):
        width = max([len(key), *(len(r[key]) for r in rows)]) + 2
        lines.append(f"{key:<{width}}{'runs':>6}" + "".join(f"{s:>15}" for s in STATES))
        for row in rows:
            lines.append(
                f"{row[key]:<{width}}{row['runs']:>6}" + "".join(f"{row[s]:>15}" for s in STATES)
            )
        lines.append("")
    by_state = ", ".join(f"{status['by_state'].get(s, 0)} {s}" for s in STATES)
    lines += [
        f"{status['protocol']}: {status['runs']} runs: {by_state}",
        f"jobs: {status['jobs_running']} running, {status['jobs_queued']} queued, "
        f"{status['jobs_not_submitted']} not yet submitted",
        f"GPU-hours: {status['gpu_hours_used']:.3f} used (requeued segments included), "
        f"{status['gpu_hours_requested_active']:.3f} asked by queued and running jobs, "
        f"{status['gpu_hours_planned_unsubmitted']:.3f} planned for jobs not yet submitted",
    ]
    if status["job_seconds_left"] > 0:
        rules_by_basis: dict[str, list[str]] = {}
        for rule, how in sorted(status["eta_basis"].items()):
            rules_by_basis.setdefault(how, []).append(rule)
        basis = "; ".join(f"{how}: {', '.join(r)}" for how, r in rules_by_basis.items())
        lines.append(
            f"time to finish: ~{_duration(status['eta_s'])} at "
            f"{max(status['jobs_running'], 1)} job(s) at once ({basis})"
        )
    queries = 0 if status["query"].startswith("none") else 1
    lines.append(f"SLURM queries: {queries} ({status['query']})")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
