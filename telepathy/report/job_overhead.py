"""What each job of a workflow run spends besides its work: per rule, job wall time split into
the run's own work, model loading, and what lies outside the run's clock (Python, torch and
transformers start-up, argument checks, writing results, process exit).

Job wall times come from the run's Snakemake log (`.snakemake/log/*.snakemake.log`, every rule,
one-second stamps), or from a job's `benchmark:` file where the rule has one (sub-second). The
split comes from the job's run JSON (`timings.wall_s`, timed from inside the command, and
`timings.load_s`, the models' and data's loading within it). A job without a run JSON (tables,
figures, merges) counts only its wall time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\S+):$")
FINISHED = re.compile(r"^Finished (?:jobid: (\d+)|job (\d+)\.)")
FIELD = re.compile(r"^\s+(output|benchmark|jobid): (.*)$")

COLUMNS = ["rule", "jobs", "wall_s", "work_s", "load_s", "outside_s", "overhead_s", "overhead"]


@dataclass
class JobSpan:
    """One job of the log: its rule, outputs, benchmark file, and when it started and ended."""

    jobid: str
    rule: str
    started: datetime
    finished: datetime | None = None
    outputs: list[str] = field(default_factory=list)
    benchmark: str | None = None


def parse_snakemake_log(text: str) -> list[JobSpan]:
    """Every job the log saw finish, in the order they started."""
    jobs: dict[str, JobSpan] = {}
    stamp: datetime | None = None
    current: JobSpan | None = None  # the job whose fields the indented lines give
    for line in text.splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(" ".join(match[1].split()), "%a %b %d %H:%M:%S %Y")
            current = None
        elif (match := RULE.match(line)) and stamp is not None:
            current = JobSpan("", match[1], stamp)
        elif (match := FIELD.match(line)) and current is not None:
            key, value = match[1], match[2].strip()
            if key == "output":
                current.outputs = [path.strip() for path in value.split(",")]
            elif key == "benchmark":
                current.benchmark = value
            else:
                current.jobid = value
                jobs[value] = current
        elif (match := FINISHED.match(line)) and stamp is not None:
            job = jobs.get(match[1] or match[2])
            if job is not None:
                job.finished = stamp
    return [job for job in jobs.values() if job.finished is not None]


def latest_run_log(workdir: Path) -> tuple[Path, list[JobSpan]]:
    """The newest Snakemake log in `workdir` that records finished jobs (a dry run's, a
    `--report` call's or a run with nothing to do record none), and its jobs."""
    folder = workdir / ".snakemake" / "log"
    for log in sorted(folder.glob("*.snakemake.log"), reverse=True):
        jobs = parse_snakemake_log(log.read_text(errors="replace"))
        if jobs:
            return log, jobs
    raise FileNotFoundError(f"no Snakemake log in {folder} records a finished job")


def _benchmark_wall(path: Path) -> float | None:
    """The `s` column of a Snakemake benchmark file (first repeat)."""
    if not path.is_file():
        return None
    table = pd.read_csv(path, sep="\t")
    return float(table["s"].iloc[0]) if "s" in table and len(table) else None


def _run_timings(outputs: list[str], workdir: Path) -> dict[str, float] | None:
    for output in outputs:
        if output.endswith(".json") and (workdir / output).is_file():
            record = json.loads((workdir / output).read_text())
            timings = record.get("timings") if isinstance(record, dict) else None
            if isinstance(timings, dict) and "wall_s" in timings:
                return timings
    return None


def job_costs(jobs: list[JobSpan], workdir: Path) -> pd.DataFrame:
    """One row per job: wall time, and its split where the job wrote a timed run JSON."""
    rows = []
    for job in jobs:
        assert job.finished is not None
        wall = _benchmark_wall(workdir / job.benchmark) if job.benchmark else None
        if wall is None:
            wall = (job.finished - job.started).total_seconds()
        timings = _run_timings(job.outputs, workdir)
        row = {"rule": job.rule, "jobid": job.jobid, "wall_s": wall}
        if timings is not None:
            run_wall, load = float(timings["wall_s"]), float(timings.get("load_s", 0.0))
            row |= {"work_s": run_wall - load, "load_s": load, "outside_s": wall - run_wall}
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule", "jobid", "wall_s", "work_s", "load_s", "outside_s"])


def overhead_by_rule(costs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, mean seconds of each part, and overhead's share of the rule's wall time.
    Overhead is loading plus what lies outside the run's clock; rules without run JSONs have
    no split (their whole job is bookkeeping) and count as all overhead."""
    rows = []
    for rule, group in costs.groupby("rule", sort=False):
        timed = group["work_s"].notna()
        work = group["work_s"].fillna(0.0)
        overhead = group["wall_s"] - work
        rows.append(
            {
                "rule": rule,
                "jobs": len(group),
                "wall_s": group["wall_s"].mean(),
                "work_s": group["work_s"].mean() if timed.any() else float("nan"),
                "load_s": group["load_s"].mean() if timed.any() else float("nan"),
                "outside_s": group["outside_s"].mean() if timed.any() else float("nan"),
                "overhead_s": overhead.mean(),
                "overhead": overhead.sum() / group["wall_s"].sum()
                if group["wall_s"].sum()
                else 0.0,
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values("wall_s", ascending=False, kind="stable").reset_index(drop=True)


def format_overhead(table: pd.DataFrame, costs: pd.DataFrame, source: str) -> str:
    """The per-rule table as text, with the totals over all jobs."""

    def seconds(value: float) -> str:
        return "-" if pd.isna(value) else f"{value:.1f}"

    header = f"{'rule':<32}{'jobs':>5}{'wall s':>9}{'work s':>9}{'load s':>9}"
    header += f"{'outside s':>11}{'overhead s':>12}{'share':>7}"
    lines = [f"job overhead per rule (means per job), from {source}", header]
    for row in table.itertuples(index=False):
        lines.append(
            f"{row.rule:<32}{row.jobs:>5}{seconds(row.wall_s):>9}{seconds(row.work_s):>9}"
            f"{seconds(row.load_s):>9}{seconds(row.outside_s):>11}"
            f"{seconds(row.overhead_s):>12}{row.overhead:>7.0%}"
        )
    total_wall = costs["wall_s"].sum()
    total_overhead = total_wall - costs["work_s"].fillna(0.0).sum()
    lines.append(
        f"all {len(costs)} jobs: {total_wall:.0f} s of job time, {total_overhead:.0f} s "
        f"({total_overhead / total_wall:.0%}) outside the runs' work"
        if total_wall
        else "no finished jobs"
    )
    lines.append(
        "work: the run's own timed work; load: models and data loaded within it; outside: "
        "before and after the run's clock (start-up and imports, exit)"
    )
    return "\n".join(lines)
