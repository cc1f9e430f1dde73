"""The facts `telepathy status` combines (run_status.py), read from where they live: the
workflow's config (which grid), the result files, the executor plugin's submissions record,
SLURM (one sacct call, or one squeue call when accounting is down), a Snakemake dry run (what is
left to submit) and the running training jobs' metrics logs (their measured step rates).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from telepathy.report.run_status import (
    SlurmJob,
    Submitted,
    slurm_jobs_from_sacct,
    submissions_from_registry,
    summarise_status,
)

RECORD = Path(".snakemake/submitit/submissions.jsonl")  # the executor plugin's (registry.py)
RATE_WINDOW = 20  # the last steps a running training's step rate is measured over


def workflow_config(workdir: Path, snakemake_args: list[str]) -> tuple[dict[str, Any], Path]:
    """The config Snakemake would run with: the Snakefile's config.yaml, then each
    --configfile over it (Snakemake's deep update), validated (and completed) by the schema."""
    from snakemake.utils import update_config, validate

    snakefile = _option_value(snakemake_args, ("-s", "--snakefile"))
    snakefile = Path(snakefile) if snakefile else workdir / "Snakefile"
    configfiles = _config_files(snakemake_args)
    config: dict[str, Any] = {}
    for given in [workdir / "config.yaml", *configfiles]:
        path = given if given.is_absolute() else workdir / given
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        update_config(config, yaml.safe_load(path.read_text()) or {})
    schema = snakefile.resolve().parent / "workflow/schemas/config.schema.yaml"
    validate(config, str(schema))
    return config, snakefile


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """The value after the first of `names` in a Snakemake command line (or `--name=value`)."""
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            return value if eq else (args[i + 1] if i + 1 < len(args) else None)
    return None


def _config_files(args: list[str]) -> list[Path]:
    """The files after --configfile/--configfiles: YAML or JSON names up to the next option
    (a target after them is not one, although Snakemake's own parser would take it)."""
    files, taking = [], False
    for arg in args:
        if arg in ("--configfile", "--configfiles"):
            taking = True
        elif taking and arg.endswith((".yaml", ".yml", ".json")):
            files.append(Path(arg))
        else:
            taking = False
    return files


def local_rules(snakefile: Path) -> set[str]:
    """The rules of the Snakefile's `localrules:` block: they run inside the driver, not as
    SLURM jobs (a dry run does not say which)."""
    rules: set[str] = set()
    inside = False
    for line in snakefile.read_text().splitlines():
        if line.startswith("localrules:"):
            inside = True
            rules.update(r.strip() for r in line.split(":", 1)[1].split(",") if r.strip())
        elif inside and line.startswith((" ", "\t")) and line.strip():
            rules.update(r.strip() for r in line.split(",") if r.strip())
        elif inside and line.strip():
            inside = False
    return rules


def query_slurm(
    ids: list[str], submitted_at: dict[str, float], gpus: dict[str, int]
) -> tuple[dict, str]:
    """SlurmJob per job id from one sacct call (every segment of each, none of an older job
    of the same id), or from one squeue call when accounting does not answer (then only jobs
    the controller still holds are known). `submitted_at`: epoch seconds per id."""
    from snakemake_executor_plugin_submitit.accounting import own_segments, parse_sacct, run_sacct
    from snakemake_executor_plugin_submitit.cluster import query_squeue
    from snakemake_executor_plugin_submitit.states import expand_job_id

    if not ids:
        return {}, "none: nothing submitted yet"
    try:
        since = min(submitted_at.values(), default=time.time())
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 60))
        segments = own_segments(parse_sacct(run_sacct(ids, start)), submitted_at)
        return slurm_jobs_from_sacct(segments, expand_job_id), "sacct"
    except RuntimeError as error:
        jobs = {
            i: SlurmJob(i, job.state, job.elapsed_s, job.elapsed_s * gpus.get(i, 0) / 3600)
            for i, job in query_squeue(ids).items()
        }
        return jobs, f"squeue (sacct failed: {error}; ended jobs' GPU-hours not counted)"


def recorded_jobs(workdir: Path) -> tuple[list[Submitted], dict[str, Submitted], dict, str]:
    """The plugin's submissions in `workdir` (all, and the newest per SLURM id) and what one
    query of SLURM says of each: (submissions, newest by id, SlurmJob by id, query used)."""
    from snakemake_executor_plugin_submitit.registry import SubmissionRegistry

    records = [vars(s) for s in SubmissionRegistry(workdir / RECORD).read()]
    submissions = submissions_from_registry(records)
    latest = {s.slurm_id: s for s in submissions}
    jobs, query = query_slurm(
        sorted(latest),
        {i: s.submitted_at for i, s in latest.items()},
        {i: s.gpus for i, s in latest.items()},
    )
    return submissions, latest, jobs, query


def training_left(grid, protocol: str, active: list[Submitted], workdir: Path) -> dict:
    """Seconds each running bridge training still needs, from its own metrics log: the steps
    left times its mean step time over the last RATE_WINDOW steps."""
    from telepathy.grid import RUN_DIR, run_result_paths

    runs = {run_result_paths(protocol, run)[0]: run for run in grid.runs.values()}
    left = {}
    for submitted in active:
        run = next((runs[p] for p in submitted.outputs if p in runs), None)
        if run is None:
            continue
        where = RUN_DIR.format(
            pair=run.pair,
            dataset=run.dataset,
            arch=run.architecture,
            k=run.soft_tokens,
            layer=run.source_layer,
            seed=run.seed,
        )
        log = workdir / f"results/{protocol}/checkpoints/{where}/state.pt.metrics.jsonl"
        if not log.exists():
            continue
        records = [json.loads(x) for x in log.read_text().splitlines()[-RATE_WINDOW:] if x.strip()]
        if records:
            rate = sum(r["step_time_s"] for r in records) / len(records)
            left[submitted.slurm_id] = max(run.config.steps - records[-1]["step"], 0) * rate
    return left


def gather_status(workdir: Path, snakemake_args: list[str]) -> dict[str, Any]:
    """Everything status shows for the workflow in `workdir` run with `snakemake_args`."""
    from snakemake_executor_plugin_submitit.plan import parse_dry_run, run_dry_run
    from telepathy.grid import expand_grid
    from telepathy.report.run_status import PENDING, RUNNING

    config, snakefile = workflow_config(workdir, snakemake_args)
    grid = expand_grid(config)
    submissions, latest, jobs, query = recorded_jobs(workdir)
    # What Snakemake would still run (outputs missing); incomplete files are those of the
    # jobs running now, not a reason to stop.
    dry_run = run_dry_run(
        ["-s", str(snakefile), "--ignore-incomplete", *snakemake_args], cwd=workdir
    )
    remaining = parse_dry_run(dry_run)
    local = local_rules(snakefile)
    for job in remaining:
        job["local"] = job["rule"] in local
    active = [latest[i] for i, j in jobs.items() if i in latest and j.state in RUNNING | PENDING]
    return summarise_status(
        grid,
        grid.protocol,
        lambda path: os.path.exists(workdir / path),
        submissions,
        jobs,
        remaining,
        training_left(grid, grid.protocol, active, workdir),
        query,
    )


def measured_jobs(history: Path) -> tuple[list[dict[str, Any]], str]:
    """The completed jobs of the run in `history` (its plugin record and one sacct call): rule,
    elapsed and asked time; for bridge training also its pair, steps and mean step time
    (train.json). What `plan --calibrate` sizes the next run from."""
    _, latest, jobs, query = recorded_jobs(history)
    measured = []
    for slurm_id, s in latest.items():
        job = jobs.get(slurm_id)
        if job is None or job.state != "COMPLETED":
            continue
        row = {"rule": s.rule, "elapsed_s": job.elapsed_s, "time_min": s.time_min}
        result = next((history / p for p in s.outputs if p.endswith("/train.json")), None)
        if s.rule == "train_bridge" and result is not None and result.exists():
            record = json.loads(result.read_text())
            row.update(
                pair=s.wildcards.get("pair"),
                steps=record["metrics"]["steps_completed"],
                mean_step_s=record["timings"]["mean_step_s"],
            )
        measured.append(row)
    return measured, f"{len(measured)} completed jobs in {history / RECORD} ({query})"


def coming_jobs(grid, snakefile: Path, dry_run: str) -> list[dict[str, Any]]:
    """The SLURM jobs a dry run of `grid`'s workflow lists (local rules left out), each with
    its GPUs and asked minutes, and for bridge training its pair and steps (from the grid)."""
    from snakemake_executor_plugin_submitit.plan import parse_dry_run
    from telepathy.grid import RUN_WILDCARDS

    local = local_rules(snakefile)
    jobs = []
    for job in parse_dry_run(dry_run):
        if job["rule"] in local:
            continue
        res, wildcards = job["resources"], job["wildcards"]
        row = {
            "rule": job["rule"],
            "gpus": int(float(res.get("gpu", 0))),
            "minutes": float(res.get("runtime", 0)),
        }
        run = grid.runs.get(tuple(wildcards.get(w, "") for w in RUN_WILDCARDS))
        if job["rule"] == "train_bridge" and run is not None:
            row.update(pair=run.pair, steps=run.config.steps)
        jobs.append(row)
    return jobs
