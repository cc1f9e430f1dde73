"""Controller load of our executor plugin against snakemake-executor-plugin-slurm (issue 15.6).

    .venv/bin/python slurm/benchmarks/controller_load.py [--jobs 52] [--out DIR]

One throwaway workflow of N short independent jobs (`sleep 5`, 1 CPU, runtime 5, mem_mb 200)
runs twice on the cluster this host talks to: with `--executor submitit` (ours, from this
interpreter's venv) and with `--executor slurm` (the official plugin, from its own venv). Before
each run the script waits until `squeue` is empty and resets slurmctld's statistics
(`sdiag --reset`); after it, it reads `sdiag` and keeps the RPC counts by message type and by
user. The one REQUEST_STATS_INFO the bookkeeping itself costs is reported apart and left out of
the totals. Every SLURM command the driver and its jobs run is logged through PATH shims
(DIR/<plugin>-commands.txt), which says which process asked for what, whoever else is on the
cluster. A markdown table goes to stdout, every raw count (and the sdiag text) to
DIR/controller_load.json, each run's Snakemake log to DIR/<plugin>.log.

The official plugin lives in its own venv (`.venv-slurm-plugin/`, made once and reused: same
Snakemake version as ours, `snakemake-executor-plugin-slurm==2.8.0`), never in ours: Snakemake
imports every installed executor plugin at start-up, and the official one runs `scontrol show
config` while being imported, so with both installed every Snakemake process of ours (the
driver and the one inside each job) would pay 2 more controller RPCs. A plain `python -m venv`
(no --system-site-packages: that would show the base interpreter's packages, not our venv's)
isolates exactly that difference.

Root is needed for `sdiag --reset`. The counts are the whole controller's: other users' jobs or
queries during a run land in them too, so each run records the foreign jobs sacct saw in its
window and whether someone else reset the statistics meanwhile ("clean" in the JSON and table).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_PACKAGE = "snakemake-executor-plugin-slurm"
OFFICIAL_VERSION = "2.8.0"  # what the outside run measured
OFFICIAL_FALLBACK = ">=2,<3"  # the newest 2.x if that one is gone from the index
STATS_RPC = "REQUEST_STATS_INFO"  # what sdiag itself sends
SETTLE_S = 5  # after Snakemake exits: let the last epilog/step messages reach slurmctld
TOP_TYPES = 12
LABELS = {"submitit": "ours (`--executor submitit`)", "slurm": "official (`--executor slurm`)"}
# SLURM client commands traced through PATH shims: which process ran what, free of other users
TRACED = ("sbatch", "srun", "squeue", "sacct", "scontrol", "sinfo", "scancel", "sacctmgr", "sshare")

SNAKEFILE = """\
# Written by slurm/benchmarks/controller_load.py: {jobs} independent short jobs.
rule all:
    input:
        expand("out/{{i}}.txt", i=range({jobs})),


rule sleep_job:
    output:
        "out/{{i}}.txt",
    threads: 1
    resources:
        runtime=5,
        mem_mb=200,
        slurm_partition="{partition}",
    shell:
        "sleep {sleep_s}; echo {{wildcards.i}} > {{output}}"
"""


# ------------------------------------------------------------------------------ sdiag


@dataclass
class Sdiag:
    """What one `sdiag` printed: RPC counts by message type and by user, and since when."""

    by_type: dict[str, int]
    by_user: dict[str, int]
    data_since: int | None  # epoch seconds of the last reset
    jobs_submitted: int | None


def parse_sdiag(text: str) -> Sdiag:
    """The two "Remote Procedure Call statistics" sections of sdiag's output."""
    by_type: dict[str, int] = {}
    by_user: dict[str, int] = {}
    section = None
    for line in text.splitlines():
        if line.startswith("Remote Procedure Call statistics by message type"):
            section = by_type
            continue
        if line.startswith("Remote Procedure Call statistics by user"):
            section = by_user
            continue
        if line and not line[0].isspace():
            section = None
            continue
        match = re.match(r"\s+(\S+)\s+\(\s*\d+\)\s+count:(\d+)", line)
        if section is not None and match:
            section[match.group(1)] = section.get(match.group(1), 0) + int(match.group(2))
    since = re.search(r"^Data since .*\((\d+)\)", text, re.MULTILINE)
    submitted = re.search(r"^Jobs submitted:\s*(\d+)", text, re.MULTILINE)
    return Sdiag(
        by_type=by_type,
        by_user=by_user,
        data_since=int(since.group(1)) if since else None,
        jobs_submitted=int(submitted.group(1)) if submitted else None,
    )


# ------------------------------------------------------------------------------ command trace


def write_shims(folder: Path, trace: Path) -> None:
    """One shell script per SLURM command in `folder` that appends its name and arguments to
    `trace`, then execs the real command; with `folder` first on PATH, the driver and the jobs
    (sbatch passes PATH on) log every SLURM command they run, whoever else uses the cluster."""
    folder.mkdir(parents=True)
    for name in TRACED:
        real = shutil.which(name)
        if real is None:
            continue
        shim = folder / name
        shim.write_text(
            f'#!/bin/sh\nprintf "%s %.300s\\n" {name} "$*" >> "{trace}"\nexec {real} "$@"\n'
        )
        shim.chmod(0o755)


def count_commands(trace_text: str) -> dict[str, int]:
    """{command: times run} from a trace; scontrol keyed with its subcommand and object."""
    counts: dict[str, int] = {}
    for line in trace_text.splitlines():
        words = line.split()
        if not words:
            continue
        key = " ".join(words[:3]) if words[0] == "scontrol" else words[0]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------------ runs


@dataclass
class Run:
    """One plugin's run and what slurmctld counted during it."""

    plugin: str
    version: str
    jobs: int
    command: list[str]
    exit_code: int
    wall_s: float
    by_type: dict[str, int]  # without sdiag's own REQUEST_STATS_INFO
    by_user: dict[str, int]  # as sdiag printed it (sdiag's own RPC included)
    stats_info_rpcs: int  # REQUEST_STATS_INFO: the reset and the read of this script
    jobs_submitted: int | None  # sdiag's "Jobs submitted" (array tasks count once each)
    our_jobs_in_sacct: int
    foreign_jobs: list[str]  # other jobs sacct saw in the run's window
    reset_by_someone_else: bool
    commands: dict[str, int]  # SLURM commands the driver and its jobs ran (PATH shims)
    outputs_written: int
    sdiag_text: str = field(repr=False)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    @property
    def per_job(self) -> float:
        return self.total / self.jobs

    @property
    def clean(self) -> bool:
        return (
            self.exit_code == 0
            and self.outputs_written == self.jobs
            and not self.foreign_jobs
            and not self.reset_by_someone_else
        )


def command_output(*cmd: str, timeout_s: float = 60) -> str:
    """stdout of a SLURM client command; exits with its stderr when it fails."""
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def wait_for_empty_queue(timeout_s: float, log) -> None:
    """Return once `squeue -h` lists no job (of anyone) twice in a row, 5 s apart."""
    deadline = time.monotonic() + timeout_s
    empty_before = False
    told = False
    while True:
        queued = command_output("squeue", "-h", "-o", "%i %u %j").split("\n")
        queued = [line for line in queued if line.strip()]
        if not queued and empty_before:
            return
        empty_before = not queued
        if queued and not told:
            log(f"waiting for an empty queue ({len(queued)} job(s) queued, e.g. {queued[0]})")
            told = True
        if time.monotonic() > deadline:
            sys.exit(f"the queue did not empty within {timeout_s:.0f} s; rerun at a quiet time")
        time.sleep(5)


def jobs_in_window(start: float, workdir: Path) -> tuple[int, list[str]]:
    """(our jobs, other jobs) that sacct lists between `start` and now, all users."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start - 1))
    out = command_output(
        "sacct", "--allusers", "-X", "--parsable2", "--noheader", "-S", since, "-E", "now",
        "--format=JobID,JobName,User,WorkDir",
    )  # fmt: skip
    ours, foreign = 0, []
    for line in out.splitlines():
        job_id, name, user, work_dir = [*line.split("|"), "", "", ""][:4]
        if work_dir.startswith(str(workdir)):
            ours += 1
        elif job_id:
            foreign.append(f"{job_id} {user} {name}")
    return ours, foreign


def measure(
    plugin: str, version: str, jobs: int, command: list[str], workdir: Path, out: Path, log
) -> Run:
    """Wait for a quiet queue, reset the statistics, run Snakemake in `workdir` (its
    Snakefile written) with the SLURM commands traced, read the statistics."""
    python = Path(command[0])
    trace = out / f"{plugin}-commands.txt"
    trace.write_text("")
    write_shims(workdir / "shims", trace)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_SUBMITIT_")}
    env["PATH"] = f"{workdir / 'shims'}:{python.parent}:{env.get('PATH', '')}"
    wait_for_empty_queue(timeout_s=3600, log=log)
    command_output("sdiag", "--reset")
    reset_at = time.time()
    log(f"{plugin}: {' '.join(command)}")
    started = time.monotonic()
    with (out / f"{plugin}.log").open("w") as snakemake_log:
        exit_code = subprocess.run(
            command, cwd=workdir, env=env, stdout=snakemake_log, stderr=subprocess.STDOUT,
            check=False,
        ).returncode  # fmt: skip
    wall_s = time.monotonic() - started
    time.sleep(SETTLE_S)
    text = command_output("sdiag")
    stats = parse_sdiag(text)
    ours, foreign = jobs_in_window(reset_at, workdir)
    by_type = dict(stats.by_type)
    stats_info = by_type.pop(STATS_RPC, 0)
    run = Run(
        plugin=plugin,
        version=version,
        jobs=jobs,
        command=command,
        exit_code=exit_code,
        wall_s=round(wall_s, 1),
        by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        by_user=stats.by_user,
        stats_info_rpcs=stats_info,
        jobs_submitted=stats.jobs_submitted,
        our_jobs_in_sacct=ours,
        foreign_jobs=foreign,
        reset_by_someone_else=stats.data_since is not None and stats.data_since > reset_at + 2,
        commands=count_commands(trace.read_text()),
        outputs_written=len(list((workdir / "out").glob("*.txt"))),
        sdiag_text=text,
    )
    log(
        f"{plugin}: exit {exit_code}, {run.wall_s} s, {run.total} RPCs "
        f"({run.per_job:.1f} per job), {len(foreign)} foreign job(s)"
    )
    return run


# ------------------------------------------------------------------------------ set-up


def official_venv(venv: Path, snakemake_version: str, log) -> tuple[Path, str, float]:
    """(python, plugin version, seconds spent): the official plugin's venv, made once."""
    python = venv / "bin" / "python"
    marker = venv / "controller-load.json"
    if marker.exists():
        made = json.loads(marker.read_text())
        if made.get("snakemake") == snakemake_version and python.exists():
            return python, made["plugin"], 0.0
        shutil.rmtree(venv)
    log(f"creating {venv} (snakemake=={snakemake_version}, {OFFICIAL_PACKAGE})")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_log = venv / "pip.log"
    pip = [str(python), "-m", "pip", "install", "--quiet", f"snakemake=={snakemake_version}"]
    for spec in (f"=={OFFICIAL_VERSION}", OFFICIAL_FALLBACK):
        with pip_log.open("a") as output:
            done = subprocess.run(
                [*pip, OFFICIAL_PACKAGE + spec], stdout=output, stderr=output, check=False
            )
        if done.returncode == 0:
            break
        log(f"pip install {OFFICIAL_PACKAGE}{spec} failed (see {pip_log})")
    else:
        sys.exit(f"could not install {OFFICIAL_PACKAGE}; see {pip_log}")
    show = f"import importlib.metadata as m; print(m.version({OFFICIAL_PACKAGE!r}))"
    version = subprocess.run(
        [str(python), "-c", show], check=True, capture_output=True, text=True
    ).stdout.strip()
    seconds = time.monotonic() - started
    marker.write_text(json.dumps({"snakemake": snakemake_version, "plugin": version}) + "\n")
    log(f"{venv} ready in {seconds:.0f} s ({OFFICIAL_PACKAGE} {version})")
    return python, version, seconds


def our_version() -> str:
    """The project's version and commit (with +dirty when the plugin's files differ)."""
    version = importlib.metadata.version("telepathy")
    git = ["git", "-C", str(REPO)]
    sha = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    )
    if sha.returncode != 0:
        return version
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "snakemake_executor_plugin_submitit"],
        check=False,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{version} ({sha.stdout.strip()}{'+dirty' if dirty else ''})"


# ------------------------------------------------------------------------------ report


def markdown(runs: list[Run]) -> str:
    """The summary table, then RPCs per job by message type, the plugins side by side."""
    lines = [
        "| plugin | version | jobs | wall s | RPCs | RPCs per job | clean |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        lines.append(
            f"| {LABELS[run.plugin]} | {run.version} | {run.jobs} | {run.wall_s:.0f} | {run.total} "
            f"| {run.per_job:.1f} | {'yes' if run.clean else 'NO'} |"
        )
    types: dict[str, int] = {}
    for run in runs:
        for name, count in run.by_type.items():
            types[name] = max(types.get(name, 0), count)
    ranked = sorted(types, key=lambda name: -types[name])
    shown, rest = ranked[:TOP_TYPES], ranked[TOP_TYPES:]
    lines += ["", "| RPCs per job by type | " + " | ".join(r.plugin for r in runs) + " |"]
    lines.append("|---|" + "---:|" * len(runs))
    for name in shown:
        cells = " | ".join(f"{r.by_type.get(name, 0) / r.jobs:.2f}" for r in runs)
        lines.append(f"| {name} | {cells} |")
    if rest:
        cells = " | ".join(f"{sum(r.by_type.get(n, 0) for n in rest) / r.jobs:.2f}" for r in runs)
        lines.append(f"| other ({len(rest)} types) | {cells} |")
    commands: dict[str, int] = {}
    for run in runs:
        for name, count in run.commands.items():
            commands[name] = max(commands.get(name, 0), count)
    lines += ["", "| SLURM commands run (driver and jobs) | " + " | ".join(r.plugin for r in runs)]
    lines[-1] += " |"
    lines.append("|---|" + "---:|" * len(runs))
    for name in sorted(commands, key=lambda name: -commands[name]):
        lines.append(
            f"| `{name}` | " + " | ".join(str(r.commands.get(name, 0)) for r in runs) + " |"
        )
    notes = []
    for run in runs:
        if run.exit_code or run.outputs_written != run.jobs:
            notes.append(
                f"{run.plugin}: Snakemake exited {run.exit_code}, {run.outputs_written} of "
                f"{run.jobs} outputs written (see {run.plugin}.log)"
            )
        if run.foreign_jobs:
            notes.append(f"{run.plugin}: other jobs ran meanwhile: {run.foreign_jobs[:5]}")
        if run.reset_by_someone_else:
            notes.append(f"{run.plugin}: someone else reset sdiag's statistics meanwhile")
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=52, help="jobs in the workflow (52)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "results" / "controller-load", help="JSON and logs"
    )
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=10,
        help="seconds between status rounds, both plugins (10; the official default: 40)",
    )
    parser.add_argument("--sleep-s", type=int, default=5, help="each job's sleep (5)")
    parser.add_argument("--partition", default="cpu", help="slurm_partition of the jobs (cpu)")
    parser.add_argument(
        "--venv", type=Path, default=REPO / ".venv-slurm-plugin", help="the official plugin's"
    )
    parser.add_argument("--plugins", default="submitit,slurm", help="which, in order")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if shutil.which("sdiag") is None or os.geteuid() != 0:
        sys.exit("needs the SLURM client commands and root (sdiag --reset)")
    if importlib.util.find_spec("snakemake_executor_plugin_submitit") is None:
        sys.exit("run with the project's venv: .venv/bin/python slurm/benchmarks/...")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None:
        log(
            "WARNING: snakemake-executor-plugin-slurm is installed in this venv; its import "
            "runs `scontrol show config` (2 RPCs) in every Snakemake process, ours included"
        )
    snakemake_version = importlib.metadata.version("snakemake")
    args.out.mkdir(parents=True, exist_ok=True)
    official_python, official_version, setup_s = official_venv(args.venv, snakemake_version, log)

    # The same options for both where both have them; `--seconds-between-status-checks` is the
    # pause before the first round. Ours polls every --submitit-poll-interval (default: that
    # pause, 10 s), the official plugin every --slurm-init-seconds-before-status-checks
    # (default 40 s); both add 10 s per round in which nothing finished (ours up to 6x the
    # interval, theirs up to 180 s) and go back to the interval when something did.
    common = ["--jobs", str(args.jobs), "--seconds-between-status-checks",
              str(args.poll_interval), "--latency-wait", "5", "--printshellcmds"]  # fmt: skip
    plugins = {
        "submitit": (
            Path(sys.executable),
            our_version(),
            ["--executor", "submitit", "--submitit-poll-interval", str(args.poll_interval)],
        ),
        "slurm": (
            official_python,
            official_version,
            ["--executor", "slurm", "--slurm-init-seconds-before-status-checks",
             str(args.poll_interval)],
        ),
    }  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory(prefix="controller-load-") as tmp:
        for plugin in args.plugins.split(","):
            python, version, options = plugins[plugin]
            workdir = Path(tmp) / plugin
            workdir.mkdir()
            (workdir / "Snakefile").write_text(
                SNAKEFILE.format(jobs=args.jobs, partition=args.partition, sleep_s=args.sleep_s)
            )
            command = [str(python), "-m", "snakemake", *common, *options]
            runs.append(measure(plugin, version, args.jobs, command, workdir, args.out, log))

    table = markdown(runs)
    print(table)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": os.uname().nodename,
        "slurm": command_output("sinfo", "--version").strip(),
        "snakemake": snakemake_version,
        "jobs": args.jobs,
        "poll_interval_s": args.poll_interval,
        "job_sleep_s": args.sleep_s,
        "official_venv_setup_s": round(setup_s, 1),
        "runs": [
            {**asdict(run), "total_rpcs": run.total, "rpcs_per_job": round(run.per_job, 2),
             "clean": run.clean}
            for run in runs
        ],
        "table": table,
    }  # fmt: skip
    (args.out / "controller_load.json").write_text(json.dumps(record, indent=1) + "\n")
    log(f"wrote {args.out / 'controller_load.json'}")
    return 0 if all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
