"""Stage `accounting` (workflow/rules/accounting.smk): for the people who pay for GPU time,
`plan` (what a workflow will ask for, from a dry run) and `gpu-usage` (what it really used,
from sacct, requeued segments included), whose logic is the executor plugin's; `status` (where
the grid stands mid-run: runs per table and dataset, GPU-hours used, asked and planned, time to
finish); and `job-overhead` (what each rule's jobs spent besides their work, from a run's
Snakemake log)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from telepathy.cli.args import Command


def add_plan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run-log", type=Path, help="saved `snakemake -n` output to read")
    p.add_argument("--json", type=Path, help="also write the plan as JSON here")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="size each rule's runtime from what an earlier run's jobs used (sacct, train.json) "
        "and write results/<protocol>/runtime_calibration.json, which the workflow then reads",
    )
    p.add_argument(
        "--history",
        type=Path,
        default=Path("."),
        help="with --calibrate: the workflow directory of the earlier run (default: this one)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.25,
        help="with --calibrate: how much above the longest measured job to ask (default 0.25)",
    )
    p.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="arguments for `snakemake -n` (after --), e.g. -- all_paper_tables",
    )


def run_plan(args: argparse.Namespace) -> int:
    from snakemake_executor_plugin_submitit.plan import format_plan, plan_from_dry_run, run_dry_run
    from telepathy.results.atomic import atomic_write_json

    snakemake_args = [a for a in args.snakemake_args if a != "--"]
    text = args.dry_run_log.read_text() if args.dry_run_log else run_dry_run(snakemake_args)
    plan = plan_from_dry_run(text)
    print(format_plan(plan))
    if args.calibrate:
        plan["calibration"] = _calibrate(args, snakemake_args, text)
    if args.json:
        atomic_write_json(args.json, plan)
    return 0


def _calibrate(args: argparse.Namespace, snakemake_args: list[str], dry_run: str) -> dict:
    """`plan --calibrate`: measure the earlier run, write the calibration, print the table."""
    from telepathy.grid import expand_grid
    from telepathy.report import calibration as cal
    from telepathy.report.status_sources import coming_jobs, measured_jobs, workflow_config
    from telepathy.results.atomic import atomic_write_json

    if not 0 <= args.margin <= 10:
        raise ValueError(f"--margin {args.margin}: expected a fraction between 0 and 10")
    jobs, source = measured_jobs(args.history)
    config, snakefile = workflow_config(Path("."), snakemake_args)
    grid = expand_grid(config)
    if not jobs:
        print(f"\nno history ({source}): runtimes stay as sized today; nothing written")
        return {"source": source, "written": None}
    measured = cal.measure(jobs)
    calibrated = cal.calibration(measured, args.margin)
    rows = cal.predict(coming_jobs(grid, snakefile, dry_run), measured, calibrated)
    print("\n" + cal.format_calibration(rows, args.margin, source))
    path = Path(f"results/{grid.protocol}/runtime_calibration.json")
    atomic_write_json(path, {**calibrated, "source": source})
    print(f"wrote {path}: the workflow asks for these runtimes from now on (delete it to undo)")
    return {"source": source, "written": str(path), "rules": rows}


def add_gpu_usage(p: argparse.ArgumentParser) -> None:
    p.add_argument("--job-ids", nargs="+", help="SLURM job ids to query with sacct")
    p.add_argument(
        "--sacct-output",
        type=Path,
        help="saved `sacct -X --duplicates --parsable2 --noheader` output instead",
    )
    p.add_argument(
        "--submissions",
        type=Path,
        help="the executor plugin's .snakemake/submitit/submissions.jsonl: which jobs, their "
        "rule and wildcards (also for array tasks) and what each asked for",
    )
    p.add_argument("--plan", type=Path, help="`telepathy plan --json` output: planned GPU-hours")
    p.add_argument("--json", type=Path, help="also write the usage as JSON here")
    p.add_argument("--table", type=Path, help="also write the text table here")


def run_gpu_usage(args: argparse.Namespace) -> int:
    from snakemake_executor_plugin_submitit.accounting import (
        format_usage,
        parse_sacct,
        run_sacct,
        summarise_usage,
    )
    from snakemake_executor_plugin_submitit.registry import SubmissionRegistry
    from telepathy.results.atomic import atomic_write_json, atomic_write_text

    if (args.job_ids and args.sacct_output) or not (
        args.job_ids or args.sacct_output or args.submissions
    ):
        raise ValueError(
            "give one of --job-ids ID [ID ...], --submissions FILE (the executor plugin's "
            ".snakemake/submitit/submissions.jsonl), or --sacct-output FILE (optionally with "
            "--submissions to name array tasks)"
        )
    submissions = SubmissionRegistry(args.submissions).by_slurm_id() if args.submissions else {}
    if args.sacct_output:
        text = args.sacct_output.read_text()
    else:
        job_ids = args.job_ids or list(submissions)
        if not job_ids:
            raise ValueError(f"{args.submissions} lists no submitted jobs")
        # From the first submission on: SLURM reuses job ids once a controller's state is
        # reset, while its accounting keeps the older jobs of the same ids.
        times = [s["submitted_at"] for s in submissions.values() if s.get("submitted_at")]
        text = run_sacct(job_ids, *([_sacct_time(min(times) - 60)] if times else []))
    plan = json.loads(args.plan.read_text()) if args.plan else None
    usage = summarise_usage(parse_sacct(text), submissions, plan)
    table = format_usage(usage)
    print(table)
    if args.json:
        atomic_write_json(args.json, usage)
    if args.table:
        atomic_write_text(args.table, table + "\n")
    return 0


def add_job_overhead(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        type=Path,
        help="a Snakemake log (default: the newest in .snakemake/log of --workdir that records "
        "finished jobs)",
    )
    p.add_argument("--workdir", type=Path, default=Path("."), help="the workflow's directory")
    p.add_argument("--json", type=Path, help="also write one row per job as JSON here")


def run_job_overhead(args: argparse.Namespace) -> int:
    from telepathy.report.job_overhead import (
        format_overhead,
        job_costs,
        latest_run_log,
        overhead_by_rule,
        parse_snakemake_log,
    )
    from telepathy.results.atomic import atomic_write_json

    if args.log:
        log, jobs = args.log, parse_snakemake_log(args.log.read_text(errors="replace"))
        if not jobs:
            raise ValueError(f"{log} records no finished job; give the log of a run that ran jobs")
    else:
        log, jobs = latest_run_log(args.workdir)
    costs = job_costs(jobs, args.workdir)
    print(format_overhead(overhead_by_rule(costs), costs, str(log)))
    if args.json:
        rows = costs.astype(object).where(costs.notna(), None).to_dict(orient="records")
        atomic_write_json(args.json, {"log": str(log), "jobs": rows})
    return 0


def add_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", type=Path, default=Path("."), help="the workflow's directory")
    p.add_argument("--json", type=Path, help="also write the status as JSON here")
    p.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="the run's Snakemake arguments (after --), e.g. -- --configfile my.yaml "
        "all_paper_tables: its config names the grid, its dry run what is left to submit",
    )


def run_status(args: argparse.Namespace) -> int:
    from telepathy.report.run_status import format_status
    from telepathy.report.status_sources import gather_status
    from telepathy.results.atomic import atomic_write_json

    status = gather_status(args.workdir, [a for a in args.snakemake_args if a != "--"])
    print(format_status(status))
    if args.json:
        atomic_write_json(args.json, status)
    return 0


COMMANDS = (
    Command(
        "plan",
        "job counts and GPU-hours requested per rule, from a Snakemake dry run",
        add_plan,
        run_plan,
    ),
    Command(
        "gpu-usage",
        "GPU-hours used per rule and dataset from sacct, requeues included",
        add_gpu_usage,
        run_gpu_usage,
    ),
    Command(
        "status",
        "where the grid stands: runs per table and dataset, GPU-hours used, asked and planned",
        add_status,
        run_status,
    ),
    Command(
        "job-overhead",
        "per rule, job wall time split into work, loading and start-up, from a Snakemake log",
        add_job_overhead,
        run_job_overhead,
    ),
)


def _sacct_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))
