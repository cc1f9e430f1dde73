"""The executor's pacing: how often it asks the cluster, and that it stops waiting at once."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

from snakemake_executor_plugin_submitit.cluster import next_poll_delay
from snakemake_executor_plugin_submitit.executor import Executor


def test_status_rounds_back_off_to_six_times_the_interval_and_180_s_at_most():
    delays, current = [], None
    for _ in range(25):
        current = next_poll_delay(30, current, finished=False)
        delays.append(current)
    assert delays[:4] == [30, 40, 50, 60] and max(delays) == 180
    assert next_poll_delay(30, 180, finished=True) == 30  # something finished: look again soon
    short, current = [], None
    for _ in range(10):
        current = next_poll_delay(3, current, finished=False)
        short.append(current)
    assert short[:3] == [3, 13, 18] and max(short) == 18  # a short interval stays short


def test_the_pause_between_rounds_ends_when_snakemake_shuts_the_executor_down():
    executor = SimpleNamespace(wait=True, next_seconds_between_status_checks=60)
    threading.Timer(0.3, lambda: setattr(executor, "wait", False)).start()
    started = time.monotonic()
    asyncio.run(Executor.sleep(executor))
    assert time.monotonic() - started < 2.0


def test_the_pause_lasts_the_delay_while_the_workflow_runs():
    executor = SimpleNamespace(wait=True, next_seconds_between_status_checks=1)
    started = time.monotonic()
    asyncio.run(Executor.sleep(executor))
    assert 0.9 < time.monotonic() - started < 2.0


def test_a_held_job_is_reported_once_per_hold_and_again_after_a_new_one():
    from snakemake_executor_plugin_submitit.states import JobState

    warnings = []
    executor = SimpleNamespace(logger=SimpleNamespace(warning=warnings.append))
    tracked = SimpleNamespace(submission=SimpleNamespace(rule="train_bridge"), held_reason=None)
    for reason in ("Priority", "JobHeldAdmin", "JobHeldAdmin", "None", "JobHeldUser"):
        state = JobState("77", "PENDING", reason=reason)
        Executor._tell_if_held(executor, tracked, state)
    assert len(warnings) == 2
    assert "JobHeldAdmin" in warnings[0] and "JobHeldUser" in warnings[1]


def test_a_group_jobs_error_reaches_the_user_with_its_message():
    """Snakemake's GroupJob.log_error drops the message (`message: None` under each job)."""
    from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

    errors, logged = [], []
    group = SimpleNamespace(
        is_group=lambda: True, groupid="foo", log_error=lambda msg=None, **kw: logged.append(msg)
    )
    executor = Executor.__new__(Executor)
    executor.logger = SimpleNamespace(error=errors.append)
    executor.print_job_error(SubmittedJobInfo(group), msg="submission failed for rule foo: x")
    assert errors == ["submitit: group foo: submission failed for rule foo: x"]
    assert logged[0].startswith("submission failed for rule foo: x")  # Snakemake's own report
