"""`telepathy submit` without a cluster: the Snakemake arguments it takes, its refusal while a
driver of the directory is queued or running, and what it tells the user once submitted (the
SLURM calls are stubbed; tests/slurm/test_detached_on_slurm.py makes them for real)."""

from __future__ import annotations

import pytest

from snakemake_executor_plugin_submitit import driver
from snakemake_executor_plugin_submitit.driver import DriverJob
from telepathy.cli import main
from telepathy.cli.submit import snakemake_arguments


@pytest.mark.parametrize(
    "args",
    [
        ["--", "--profile", "slurm", "all_paper_tables"],
        ["--profile=slurm"],
        ["-e", "submitit", "all"],
        ["--workflow-profile", "p"],
    ],
)
def test_arguments_after_the_double_dash_go_to_snakemake(args):
    assert snakemake_arguments(args, {}) == tuple(a for a in args if a != "--")


def test_arguments_that_send_no_job_to_slurm_are_refused():
    with pytest.raises(ValueError, match=r"\['all_paper_tables'\] choose no profile or executor"):
        snakemake_arguments(["--", "all_paper_tables"], {})
    assert snakemake_arguments(["all"], {"SNAKEMAKE_PROFILE": "slurm"}) == ("all",)


@pytest.fixture
def queue(monkeypatch, tmp_path):
    """The directory's drivers squeue reports, and the requests that reach sbatch."""
    monkeypatch.chdir(tmp_path)
    found: list[DriverJob] = []
    submitted: list[driver.DriverRequest] = []
    monkeypatch.setattr(driver, "find_drivers", lambda comment: found)
    monkeypatch.setattr(driver, "partition_minutes", lambda partition: 1440)
    monkeypatch.setattr(driver, "submit", lambda request: submitted.append(request) or "4242")
    for name in ("SNAKEMAKE_SUBMITIT_CPU_PARTITION", "SNAKEMAKE_SUBMITIT_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    return found, submitted


def test_a_running_driver_of_the_directory_is_named_and_nothing_is_submitted(queue, capsys):
    found, submitted = queue
    found.append(DriverJob("17", "RUNNING", "/w/logs/driver/x-17.log"))
    assert main(["submit", "--", "--profile", "slurm", "all"]) == 1
    err = capsys.readouterr().err
    assert "driver job 17 of" in err and "is RUNNING" in err
    assert "tail -f /w/logs/driver/x-17.log" in err and "scancel 17" in err
    assert submitted == []


def test_a_submission_prints_the_job_its_log_and_how_to_follow_and_stop_it(queue, capsys, tmp_path):
    found, submitted = queue
    found.append(DriverJob("16", "COMPLETING", "/w/logs/driver/x-16.log"))  # just scancel'ed
    assert main(["submit", "--mem-mb", "1000", "--", "--profile", "slurm", "all"]) == 0
    (request,) = submitted
    assert request.after == ("16",)  # starts once the stopping driver is gone
    assert (request.time_min, request.mem_mb, request.partition) == (1440, 1000, None)
    assert request.snakemake_args == ("--profile", "slurm", "all")
    assert request.workdir == tmp_path.resolve()
    assert (tmp_path / "logs" / "driver").is_dir()  # SLURM creates no folders
    out = capsys.readouterr().out
    log = request.log.replace(f"{tmp_path.resolve()}/", "").replace("%j", "4242")
    assert "SLURM job 4242" in out and "after job 16 has stopped" in out
    assert f"tail -f {log}" in out and "scancel 4242" in out and "telepathy status" in out


def test_partition_and_time_are_taken_from_the_site_or_the_options(queue, monkeypatch):
    _, submitted = queue
    monkeypatch.setenv("SNAKEMAKE_SUBMITIT_CPU_PARTITION", "short")
    main(["submit", "--", "--profile", "slurm"])
    main(["submit", "--partition", "long", "--time", "90", "--log", "d.log", "--", "-e", "x"])
    assert [(r.partition, r.time_min) for r in submitted] == [("short", 1440), ("long", 90)]
    assert submitted[1].log.endswith("/d.log")


def test_a_bad_time_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["submit", "--time", "0", "--", "--profile", "slurm"])
    assert exit_.value.code == 2
    assert "expected a whole number > 0, got '0'" in capsys.readouterr().err


def test_offline_compute_nodes_are_warned_about(queue, monkeypatch, caplog):
    monkeypatch.setenv("SNAKEMAKE_SUBMITIT_OFFLINE_COMPUTE_NODES", "true")
    assert main(["submit", "--", "--profile", "slurm"]) == 0
    assert "would run inside the driver job, on a compute node" in caplog.text
