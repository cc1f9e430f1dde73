"""The driver as a SLURM job (driver.py): its sbatch line, the script SLURM runs (executed here
with a stand-in Python), and the queue check that keeps a second driver of a directory out.
The real thing on the test cluster: tests/slurm/test_detached_on_slurm.py."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from snakemake_executor_plugin_submitit import driver
from snakemake_executor_plugin_submitit.driver import DriverJob, DriverRequest

WORKDIR = Path("/scratch/me/telepathy")
COMMENT = driver.driver_comment("telepathy-driver", WORKDIR)


def request(**overrides) -> DriverRequest:
    settings = dict(
        workdir=WORKDIR,
        snakemake_args=("--profile", "slurm", "all_paper_tables", "--config", "note=a b"),
        python="/venv/bin/python",
        log=f"{WORKDIR}/logs/driver/20250101-120000-%j.log",
        time_min=10080,
        mem_mb=4000,
        job_name="telepathy-driver",
    )
    return DriverRequest(**{**settings, **overrides})


def test_the_sbatch_line_asks_for_one_requeueable_cpu_and_names_the_directory():
    command = driver.sbatch_command(request())
    assert command[:2] == ["sbatch", "--parsable"]
    for flag in (
        "--job-name=telepathy-driver",
        f"--comment=telepathy-driver {WORKDIR}",
        f"--chdir={WORKDIR}",
        f"--output={WORKDIR}/logs/driver/20250101-120000-%j.log",
        "--open-mode=append",  # a requeued driver appends to its log
        "--requeue",
        "--ntasks=1",
        "--cpus-per-task=1",
        "--mem=4000M",
        "--time=10080",
    ):
        assert flag in command
    assert not [a for a in command if a.startswith(("--partition", "--account", "--dep"))]


def test_site_values_and_a_stopping_driver_to_wait_for_are_passed_on():
    command = driver.sbatch_command(
        request(partition="cpu", account="proj", qos="long", after=("12", "13"))
    )
    assert {"--partition=cpu", "--account=proj", "--qos=long"} <= set(command)
    assert "--dependency=afterany:12:13" in command


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_min", 0, "driver time_min must be a whole number > 0, got 0"),
        ("mem_mb", -5, "driver mem_mb must be a whole number > 0, got -5"),
        ("workdir", Path("relative"), "driver workdir must be absolute, got relative"),
    ],
)
def test_a_bad_request_is_refused_naming_the_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        request(**{field: value})


SQUEUE = f"""\
101|COMPLETED|/elsewhere/x.log|submitit-intent:abc
102|RUNNING|/scratch/me/other/logs/driver/a-%j.log|telepathy-driver /scratch/me/other
103|CANCELLED|{WORKDIR}/logs/driver/a-%j.log|{COMMENT}
104|PENDING|{WORKDIR}/logs/driver/b-%j.log|{COMMENT}
105|COMPLETING|{WORKDIR}/logs/driver/c-%j.log|{COMMENT}
106|RUNNING|/x.log|(null)
108|NODE_FAIL|{WORKDIR}/logs/driver/d-%j.log|{COMMENT}
107|RUNNING|/y.log|{COMMENT} and more
"""


def test_only_this_directory_s_drivers_that_may_still_run_are_found():
    assert driver.parse_drivers(SQUEUE, COMMENT) == [
        DriverJob("104", "PENDING", f"{WORKDIR}/logs/driver/b-104.log"),
        DriverJob("105", "COMPLETING", f"{WORKDIR}/logs/driver/c-105.log"),
        DriverJob("108", "NODE_FAIL", f"{WORKDIR}/logs/driver/d-108.log"),  # requeued next
    ]
    assert driver.parse_drivers("", COMMENT) == []


def test_a_comment_holding_the_separator_still_matches():
    odd = driver.driver_comment("telepathy-driver", Path("/data/a|b"))
    assert driver.parse_drivers(f"7|REQUEUED|/l-%j.log|{odd}\n", odd) == [
        DriverJob("7", "REQUEUED", "/l-7.log")
    ]


@pytest.mark.parametrize(
    ("sinfo", "minutes"),
    [("infinite|22000\n", 10080), ("1-00:00:00|22000\n", 1440), ("30-00:00:00|8000\n", 10080)],
)
def test_the_default_time_is_the_partition_s_limit_at_most_a_week(sinfo, minutes):
    assert driver.default_minutes(sinfo) == minutes


def fake_python(folder: Path, unlock_exit: int = 0) -> Path:
    """A stand-in interpreter that records each call as two lines: its arguments, then the
    SLURM_* names it sees and the first folder of its PATH."""
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        "#!/bin/bash\n"
        f'echo "args: $*" >> {folder}/calls\n'
        f"env | grep -o '^SLURM_[A-Z_]*' | sort | tr '\\n' ' ' >> {folder}/calls\n"
        f'echo "PATH=${{PATH%%:*}}" >> {folder}/calls\n'
        f'[[ " $* " == *" --unlock "* ]] && exit {unlock_exit}\n'
        "exit 0\n"
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


def run_script(tmp_path: Path, python: Path) -> subprocess.CompletedProcess:
    script = driver.driver_script(request(python=str(python), keep_env=("SLURM_TIME_FORMAT",)))
    allocation = {"SLURM_JOB_ID": "9", "SLURM_MEM_PER_NODE": "2000", "SLURM_OPEN_MODE": "a",
                  "SLURM_RESTART_COUNT": "1", "SLURM_CONF": "/etc/slurm/slurm.conf",
                  "SLURM_TIME_FORMAT": "standard"}  # fmt: skip
    env = {"PATH": os.environ["PATH"], **allocation}
    return subprocess.run(
        ["bash", "-c", script], check=False, env=env, capture_output=True, text=True
    )


def test_the_script_unlocks_then_runs_snakemake_without_the_allocation_s_settings(tmp_path):
    proc = run_script(tmp_path, fake_python(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "[driver] slurm job 9, restart 1" in proc.stdout
    lines = (tmp_path / "calls").read_text().splitlines()
    args = "-m snakemake --profile slurm all_paper_tables --config note=a b"
    assert lines[0] == f"args: {args} --unlock"
    assert lines[2] == f"args: {args} --rerun-incomplete"
    for seen in (lines[1], lines[3]):  # only the submitter's own settings, and SLURM_CONF
        assert seen.startswith("SLURM_CONF SLURM_TIME_FORMAT PATH="), seen
        assert seen.endswith(f"PATH={tmp_path}/bin")


def test_the_script_stops_when_unlocking_fails(tmp_path):
    proc = run_script(tmp_path, fake_python(tmp_path, unlock_exit=3))
    assert proc.returncode == 3
    assert len((tmp_path / "calls").read_text().splitlines()) == 2  # the --unlock call only
