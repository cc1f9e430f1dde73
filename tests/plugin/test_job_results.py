"""Failure messages name the job's own error, not only the end of submitit's traceback."""

from __future__ import annotations

from snakemake_executor_plugin_submitit.job_results import log_tail, oom_killed, result_error

# A job whose command exited 0 without its output: Snakemake's error, then ~30 lines of
# submitit's traceback (the shape seen on the test cluster).
SNAKEMAKE_PART = """\
Building DAG of jobs...
[Sun Dec  6 10:00:00 2026]
localrule make_output:
    output: out.txt
    jobid: 0
Waiting at most 5 seconds for missing files:
out.txt (missing locally, parent dir contents: )
MissingOutputException in rule make_output in file /work/Snakefile, line 3:
Job 0  completed successfully, but some output files are missing. Missing files after 5 seconds:
out.txt (missing locally, parent dir contents: )

Shutting down, this might take some time.
Exiting because a job execution failed. Look below for error messages"""
TRACEBACK = "\n".join(
    ["submitit ERROR (2026-12-06 10:00:06,000) - Submitted job triggered an exception",
     "Traceback (most recent call last):"]
    + [f'  File "/venv/lib/python3.11/site-packages/submitit/x{i}.py", line {i}, in f{i}'
       for i in range(14)]
    + [f"    frame_{i}()" for i in range(14)]
    + ["subprocess.CalledProcessError: Command '['snakemake', ...]' returned non-zero exit "
       "status 1."]
)  # fmt: skip


def test_an_error_far_above_the_tail_is_quoted_before_it(tmp_path):
    log = tmp_path / "job.log"
    log.write_text(SNAKEMAKE_PART + "\n" + TRACEBACK + "\n")
    message = result_error(TRACEBACK, "123", "make_output", str(log))
    assert message.startswith("FAILED: slurm job 123: subprocess.CalledProcessError")
    error = message.split("--- the job's error ---\n")[1].split("\n--- last lines")[0]
    assert error.splitlines()[0].startswith("MissingOutputException in rule make_output")
    assert "completed successfully, but some output files are missing" in error
    assert "Shutting down" not in error  # the excerpt ends at the blank line
    assert message.index("MissingOutputException") < message.index("--- last lines")


def test_an_error_inside_the_tail_is_not_repeated(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("loading\nValueError: --set steps expects an integer, got 'x'\n")
    text = log_tail(str(log))
    assert "--- the job's error ---" not in text
    assert text.count("ValueError: --set steps") == 1


def test_an_unreadable_log_adds_nothing(tmp_path):
    assert log_tail(str(tmp_path / "missing.log")) == ""


def test_a_command_stopped_at_the_pre_timeout_signal_reads_as_a_time_limit(tmp_path):
    """submitit stops a job that cannot checkpoint at USR2, before SLURM's own TIMEOUT (sacct
    then says FAILED): the message must still say time limit, so the plugin escalates it."""
    from snakemake_executor_plugin_submitit.job_results import result_error

    traceback = (
        "snakemake_executor_plugin_submitit.callable.JobCommandFailed: Snakemake job command "
        "stopped at SLURM's pre-timeout signal after 50 s (SLURM restart 0)"
    )
    message = result_error(traceback, "23", "slow", str(tmp_path / "missing.log"))
    assert message.startswith("TIMEOUT: slurm job 23 reached its time limit")
    assert "raise `runtime` for rule slow" in message


def test_the_oom_killers_lines_in_the_log_say_out_of_memory(tmp_path):
    """The lines slurmstepd and srun wrote for an OOM-killed step on the test cluster; the
    driver goes by them when sacct does not show the step's OUT_OF_MEMORY yet."""
    killed, failed = tmp_path / "killed.out", tmp_path / "failed.out"
    killed.write_text(
        TRACEBACK + "\nslurmstepd-vm: error: Detected 1 oom-kill event(s) in StepId=138.0. "
        "Some of your processes may have been killed by the cgroup out-of-memory handler.\n"
        "srun: error: vm: task 0: Out Of Memory\n"
    )
    failed.write_text(SNAKEMAKE_PART + "\n" + TRACEBACK + "\nMemoryError: out of memory\n")
    assert oom_killed(str(killed))
    assert not oom_killed(str(failed))  # Python's own MemoryError is the code's, not SLURM's
    assert not oom_killed(str(tmp_path / "missing.out"))
