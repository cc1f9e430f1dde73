"""Client-side helpers for tests on the SLURM test cluster: submit, sacct, poll."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "slurm" / "testcluster" / "cluster.sh"
SACCT_FIELDS = (
    "JobID",
    "JobIDRaw",
    "JobName",
    "State",
    "ExitCode",
    "ElapsedRaw",
    "AllocTRES",
    "NodeList",
    "Reason",
)

T = TypeVar("T")


def state_dir() -> Path:
    """Where cluster.sh keeps logs, pid files and its `unavailable` reason."""
    return Path(os.environ.get("TELEPATHY_SLURM_STATE", "/tmp/telepathy-slurm"))


def sinfo_answers() -> bool:
    """True if a SLURM controller answers (whoever started it)."""
    if shutil.which("sinfo") is None:
        return False
    try:
        proc = subprocess.run(
            ["sinfo", "-h"], check=False, capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def run(*cmd: str, timeout_s: float = 60) -> str:
    """Run a SLURM client command and return its stdout; fail the test with stderr otherwise."""
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def wait_until(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.5
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster plus the client calls the tests need."""

    started_here: bool
    state_dir: Path
    since: str  # sacct -S: just before the session, so an old job with a recycled id never matches

    @property
    def is_managed(self) -> bool:
        """True if this is cluster.sh's cluster (tests that kill daemons need that)."""
        conf = Path("/etc/slurm/slurm.conf")
        return conf.exists() and "managed by telepathy" in conf.read_text().splitlines()[0]

    def sbatch(self, *args: str) -> str:
        """Submit with `sbatch --parsable ARGS` and return the job id."""
        return run("sbatch", "--parsable", *args).strip().split(";")[0]

    def sacct(
        self,
        job_ids: list[str],
        *,
        duplicates: bool = False,
        allocations: bool = True,
        fields: tuple[str, ...] = SACCT_FIELDS,
    ) -> list[dict[str, str]]:
        """Rows of `sacct --parsable2 --noheader -S <since> -j IDS`, as dicts keyed by field."""
        cmd = ["sacct", "--parsable2", "--noheader", "-S", self.since]
        cmd += ["-j", ",".join(job_ids), "--format=" + ",".join(fields)]
        if allocations:
            cmd.append("-X")
        if duplicates:
            cmd.append("--duplicates")
        lines = run(*cmd).splitlines()
        return [dict(zip(fields, line.split("|"), strict=True)) for line in lines if line]

    def squeue_states(self, job_ids: list[str] | None = None) -> dict[str, str]:
        """{job id: state} of the jobs (of `job_ids`, or all) that slurmctld still knows."""
        cmd = ["squeue", "-h", "--states=all", "-o", "%i|%T"]
        if job_ids is not None:
            if not job_ids:
                return {}
            cmd += ["-j", ",".join(job_ids)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
        # One id that slurmctld has forgotten (older than MinJobAge) is an error; several are not.
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        return dict(line.split("|", 1) for line in proc.stdout.splitlines() if line)

    def config(self) -> dict[str, str]:
        """`scontrol show config` as {key: value}."""
        settings = {}
        for line in run("scontrol", "show", "config").splitlines():
            key, sep, value = line.partition(" = ")
            if sep:
                settings[key.strip()] = value.strip()
        return settings

    def node(self) -> tuple[str, str]:
        """(node name, state) of the first node, state as `sinfo %T` prints it."""
        name, state = run("sinfo", "-h", "-N", "-o", "%N|%T").splitlines()[0].split("|")
        return name, state
