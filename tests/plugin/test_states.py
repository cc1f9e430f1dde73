"""sacct and squeue output parsed into job states, and the verdict on each state."""

from __future__ import annotations

import pytest

from snakemake_executor_plugin_submitit.states import (
    JobState,
    Outcome,
    SubmissionTimes,
    classify,
    expand_job_id,
    held_notice,
    parse_sacct_status,
    parse_squeue_status,
)

T0 = "2026-01-01T10:00:00"  # every row's Submit
SACCT = f"""\
101|101|COMPLETED|0:0|12|node1|None|{T0}
102|102|FAILED|1:0|3|node1|NonZeroExitCode|{T0}
103_0|103|RUNNING|0:0|5|node1|None|{T0}
103_[1-3%2]|103|PENDING|0:0|0|None assigned|JobArrayTaskLimit|{T0}
104|104|CANCELLED by 0|0:15|7|node1|None|{T0}
105|105|OUT_OF_MEMORY|0:125|9|node1|None|{T0}
warning: something odd
"""


def test_sacct_rows_key_on_jobid_expand_compressed_arrays_and_take_the_first_state_word():
    states = parse_sacct_status(SACCT)
    assert set(states) == {"101", "102", "103_0", "103_1", "103_2", "103_3", "104", "105"}
    assert states["103_2"].state == "PENDING" and states["103_0"].state == "RUNNING"
    assert states["104"].state == "CANCELLED" and states["102"].exit_code == "1:0"


def test_an_oom_killed_srun_step_makes_the_job_out_of_memory():
    """Observed on the test cluster: the job reads FAILED 1:0, only its step OUT_OF_MEMORY."""
    text = (
        f"46|46|FAILED|1:0|2|n|None|{T0}\n46.batch|46.batch|FAILED|1:0|2|n||{T0}\n"
        f"46.0|46.0|OUT_OF_MEMORY|0:125|0|n||{T0}\n"
        f"47_1|48|FAILED|1:0|2|n|None|{T0}\n47_1.0|48.0|OUT_OF_MEMORY|0:125|0|n||{T0}\n"
        f"49|49|FAILED|1:0|2|n|None|{T0}\n49.0|49.0|FAILED|1:0|0|n||{T0}\n"
    )
    states = parse_sacct_status(text)
    assert states["46"].state == "OUT_OF_MEMORY" and states["47_1"].state == "OUT_OF_MEMORY"
    assert states["49"].state == "FAILED" and set(states) == {"46", "47_1", "49"}


def test_with_duplicates_the_newest_segment_of_a_requeued_job_wins():
    text = f"7|7|REQUEUED|0:0|60|n|None|{T0}\n7|7|RUNNING|0:0|3|n|None|{T0}\n"
    assert parse_sacct_status(text)["7"].state == "RUNNING"


def test_an_older_job_of_the_same_id_is_never_taken_for_the_submitted_one():
    """After a controller's state was reset SLURM hands out 7 and 8 again; the older job 7
    (FAILED) and array task 8_2 are still in its accounting, and until slurmdbd has the new
    ones they are all that sacct says of 7 and 8_2."""
    import time

    submitted = time.mktime(time.strptime(T0, "%Y-%m-%dT%H:%M:%S"))
    older = "2025-12-31T09:00:00"
    text = (
        f"7|7|FAILED|1:0|60|n|NonZeroExitCode|{older}\n8_2|8|COMPLETED|0:0|5|n|None|{older}\n"
        f"9|9|RUNNING|0:0|3|n|None|2026-01-01T09:59:20\n"  # sbatch stamped it 40 s before
    )
    states = parse_sacct_status(text, {"7": submitted, "8_2": submitted, "9": submitted})
    assert set(states) == {"9"}
    assert parse_sacct_status(text)["7"].state == "FAILED"  # no record: no telling


def test_a_submission_time_is_the_ids_own_else_its_arrays_earliest():
    times = SubmissionTimes({"5_1": 30.0, "5_0": 20.0, "6": 50.0, "5_2": 40.0})
    assert times("5_1") == 30.0  # its own record
    assert times("5_[0-3]") == 20.0  # the array's earliest task
    assert times("5_9") == 20.0  # a task the plugin did not record: its array's earliest
    assert times("6_0") == 50.0
    assert times("7") is None  # never submitted by the plugin


@pytest.mark.parametrize(
    ("job_id", "expanded"),
    [
        ("5", ["5"]),
        ("5_3", ["5_3"]),
        ("5_[0-2]", ["5_0", "5_1", "5_2"]),
        ("5_[1,4-5%2]", ["5_1", "5_4", "5_5"]),
    ],
)
def test_expand_job_id(job_id, expanded):
    assert expand_job_id(job_id) == expanded


def test_squeue_fallback_parsing():
    states = parse_squeue_status("9|RUNNING|1-02:03:04|None\n10_[0-1]|PENDING|0:00|Priority\n")
    assert states["9"].state == "RUNNING" and states["10_1"].state == "PENDING"
    assert states["9"].elapsed_s == 86400 + 2 * 3600 + 3 * 60 + 4
    assert states["10_1"].elapsed_s == 0 and states["10_1"].reason == "Priority"
    # trailing fields may be missing
    assert parse_squeue_status("8|RUNNING\n")["8"] == JobState("8", "RUNNING")


def test_squeue_gives_the_reason_a_job_waits_which_sacct_does_not_update():
    # sacct still says Reason "None" for a job held after submission (seen on the test cluster)
    states = parse_squeue_status("11_2|PENDING|0:00|JobHeldAdmin\n12|RUNNING|5:01|None\n")
    assert states["11_2"].reason == "JobHeldAdmin"
    assert held_notice(states["11_2"], "train_bridge") is not None


@pytest.mark.parametrize(
    ("state", "code", "outcome", "words"),
    [
        ("COMPLETED", "0:0", Outcome.SUCCESS, ""),
        ("COMPLETED", "1:0", Outcome.FAILED, "non-zero exit"),
        ("FAILED", "1:0", Outcome.FAILED, "exit 1:0"),
        ("TIMEOUT", "0:0", Outcome.FAILED, "raise `runtime` for rule train_bridge"),
        ("OUT_OF_MEMORY", "0:125", Outcome.FAILED, "raise `mem_mb` for rule train_bridge"),
        ("CANCELLED", "0:15", Outcome.FAILED, "cancelled by a user or an admin"),
        ("NODE_FAIL", "0:0", Outcome.FAILED, "infrastructure"),
        ("BOOT_FAIL", "0:0", Outcome.FAILED, "infrastructure"),
        ("DEADLINE", "0:0", Outcome.FAILED, "deadline"),
        ("UNKNOWN", "", Outcome.FAILED, "not a known successful state"),
        ("PENDING", "0:0", Outcome.RUNNING, ""),
        ("REQUEUED", "0:0", Outcome.RUNNING, ""),
        ("PREEMPTED", "0:0", Outcome.RUNNING, ""),
        ("COMPLETING", "0:0", Outcome.RUNNING, ""),
    ],
)
def test_states_are_classified_with_what_to_do_and_nothing_unknown_is_success(
    state, code, outcome, words
):
    verdict = classify(JobState("42", state, code), "train_bridge", "/logs/42_0_log.out")
    assert verdict.outcome is outcome
    assert words in verdict.message
    if outcome is Outcome.FAILED:
        assert verdict.message.startswith(state) and "/logs/42_0_log.out" in verdict.message


def test_a_job_we_cancelled_is_reported_as_such():
    verdict = classify(JobState("1", "CANCELLED", "0:15"), "r", "log", we_cancelled=True)
    assert "cancelled by this workflow" in verdict.message


def test_a_held_job_is_named_with_its_reason_and_how_to_release_it():
    from snakemake_executor_plugin_submitit.states import held_notice

    held = JobState("123_4", "PENDING", reason="JobHeldAdmin")
    notice = held_notice(held, "train_bridge")
    assert "slurm job 123_4 (rule train_bridge) is held by an administrator (JobHeldAdmin)" in (
        notice or ""
    )
    assert "scontrol release 123_4" in notice
    assert "held by its user" in (
        held_notice(JobState("9", "PENDING", reason="JobHeldUser"), "r") or ""
    )
    assert held_notice(JobState("9", "PENDING", reason="Resources"), "r") is None
    assert held_notice(JobState("9", "RUNNING", reason="JobHeldAdmin"), "r") is None
