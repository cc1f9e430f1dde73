"""`telepathy submit -- <snakemake args>`: the Snakemake driver itself as a small, requeueable
SLURM CPU job, so that the user can log out (slurm/README.md, *Submit and log out*). Not a
workflow stage: no rule calls it, it runs the workflow. The sbatch command, the script and the
queue check are the executor plugin's (snakemake_executor_plugin_submitit/driver.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from telepathy.cli.args import Command

if TYPE_CHECKING:
    from snakemake_executor_plugin_submitit.driver import DriverRequest

log = logging.getLogger("telepathy")

JOB_NAME = "telepathy-driver"
DEFAULT_MEM_MB = 4000  # Snakemake with the paper grid's DAG, plus the local merge/table rules
DEFAULT_LOG = "logs/driver/{stamp}-%j.log"
# Snakemake options that send jobs somewhere other than the driver's own single CPU.
EXECUTOR_OPTIONS = ("--profile", "--workflow-profile", "--executor", "-e")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return value


def add_submit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--partition",
        help="the driver's partition (default: $SNAKEMAKE_SUBMITIT_CPU_PARTITION, else the "
        "cluster's default); a CPU partition: the driver only waits and polls",
    )
    p.add_argument(
        "--time",
        type=positive_int,
        metavar="MIN",
        help="the driver's time limit in minutes (default: the partition's, at most 7 days)",
    )
    p.add_argument(
        "--mem-mb",
        type=positive_int,
        default=DEFAULT_MEM_MB,
        help=f"the driver's memory in MB (default {DEFAULT_MEM_MB})",
    )
    p.add_argument(
        "--log",
        help="the driver's log (Snakemake's output), relative to this directory; %%j is the "
        "job id (default: logs/driver/<date>-%%j.log)",
    )
    p.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="Snakemake's arguments (after --), e.g. -- --profile slurm all_paper_tables",
    )


def snakemake_arguments(args: list[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """The arguments after `--`, refused when no profile or executor sends the jobs to SLURM:
    the driver would run every job inside its own 1-CPU allocation."""
    args = args[1:] if args[:1] == ["--"] else list(args)
    chosen = any(a in EXECUTOR_OPTIONS or a.split("=")[0] in EXECUTOR_OPTIONS for a in args)
    if not (chosen or environ.get("SNAKEMAKE_PROFILE")):
        raise ValueError(
            f"Snakemake arguments {args} choose no profile or executor; expected e.g. "
            "`telepathy submit -- --profile slurm all_paper_tables` (without one the driver "
            "would run every job inside its own 1-CPU allocation)"
        )
    return tuple(args)


def run_submit(args: argparse.Namespace) -> int:
    from snakemake_executor_plugin_submitit import driver

    snakemake_args = snakemake_arguments(args.snakemake_args, os.environ)
    workdir = Path.cwd().resolve()
    comment = driver.driver_comment(JOB_NAME, workdir)
    found = driver.find_drivers(comment)
    live = [job for job in found if job.state != driver.STOPPING]
    if live:
        for job in live:
            print(
                f"not submitted: driver job {job.slurm_id} of {workdir} is {job.state}; its "
                f"log: {job.log}\n  follow it: tail -f {job.log}\n  or stop it first: "
                f"scancel {job.slurm_id}",
                file=sys.stderr,
            )
        return 1
    _warn_offline(snakemake_args)
    partition = args.partition or os.environ.get("SNAKEMAKE_SUBMITIT_CPU_PARTITION") or None
    log_path = Path(args.log or DEFAULT_LOG.format(stamp=time.strftime("%Y%m%d-%H%M%S")))
    log_path = log_path if log_path.is_absolute() else workdir / log_path
    log_path.parent.mkdir(parents=True, exist_ok=True)  # SLURM creates no folders
    request = driver.DriverRequest(
        workdir=workdir,
        snakemake_args=snakemake_args,
        python=sys.executable,
        log=str(log_path),
        time_min=args.time or driver.partition_minutes(partition),
        mem_mb=args.mem_mb,
        job_name=JOB_NAME,
        partition=partition,
        account=os.environ.get("SNAKEMAKE_SUBMITIT_ACCOUNT") or None,
        qos=os.environ.get("SNAKEMAKE_SUBMITIT_QOS") or None,
        after=tuple(job.slurm_id for job in found),  # stopping: start when they are gone
        keep_env=tuple(sorted(n for n in os.environ if n.startswith("SLURM_"))),
    )
    job_id = driver.submit(request)
    print(submitted_message(request, job_id))
    return 0


def submitted_message(request: DriverRequest, job_id: str) -> str:
    """What the user needs to re-attach: the job, its log, how to follow and stop it."""
    from snakemake_executor_plugin_submitit.driver import fill_job_id

    log_file = Path(fill_job_id(request.log, job_id))
    shown = (
        log_file.relative_to(request.workdir)
        if log_file.is_relative_to(request.workdir)
        else log_file
    )
    where = request.partition or "the cluster's default partition"
    waits = f", after job {' '.join(request.after)} has stopped" if request.after else ""
    return (
        f"submitted the Snakemake driver of {request.workdir}: SLURM job {job_id} ({where}, "
        f"1 CPU, {request.mem_mb} MB, {request.time_min} min{waits})\n"
        f"  log:      {shown}\n"
        f"  follow:   tail -f {shown}\n"
        f"  status:   telepathy status -- <the same Snakemake arguments>\n"
        f"  stop:     scancel {job_id}   (the driver only: its jobs run on, and `telepathy "
        f"submit` again adopts them)\n"
        f"  stop all: scancel --batch --signal=INT {job_id}   (the driver cancels its jobs, "
        f"as on Ctrl-C)"
    )


def _warn_offline(snakemake_args: tuple[str, ...]) -> None:
    """Rules that need the internet run on the driver's host under offline_compute_nodes:
    detached, that host is a compute node (and the driver's small allocation)."""
    flag = os.environ.get("SNAKEMAKE_SUBMITIT_OFFLINE_COMPUTE_NODES", "").lower()
    given = {a.split("=")[0] for a in snakemake_args}
    if flag in ("1", "true", "yes") or "--submitit-offline-compute-nodes" in given:
        log.warning(
            "offline compute nodes: rules that need the internet (prepare_models, "
            "prepare_dataset) would run inside the driver job, on a compute node; run them "
            "here first (slurm/README.md, *Submit and log out*)"
        )


COMMANDS = (
    Command(
        "submit",
        "run the Snakemake driver as a requeueable SLURM job: submit, log out, come back",
        add_submit,
        run_submit,
    ),
)
