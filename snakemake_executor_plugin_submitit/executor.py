"""The Executor Snakemake drives: submit (arrays where it can), poll, classify, cancel, adopt.

Contract (snakemake-interface-executor-plugins 9): run_jobs/run_job must report every job it
is given, as submitted or as an error, and never raise; check_active_jobs must report or
yield every job it is given, and never raise. Every cluster query here is one call for all
jobs of a round: sbatch once per array, sacct once per status round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path

from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.accounting import safe_name
from snakemake_executor_plugin_submitit.escalation import (
    Escalation,
    PartitionLimits,
)
from snakemake_executor_plugin_submitit.here import ID_PREFIX, HostJobs
from snakemake_executor_plugin_submitit.job_results import (
    host_failure,
    log_tail,
    oom_killed,
    read_result,
    result_error,
)
from snakemake_executor_plugin_submitit.params import SiteDefaults
from snakemake_executor_plugin_submitit.quota import Quota, QuotaState
from snakemake_executor_plugin_submitit.recovery import Adoption
from snakemake_executor_plugin_submitit.registry import (
    Submission,
    SubmissionRegistry,
    Tracked,
)
from snakemake_executor_plugin_submitit.retries import Retries
from snakemake_executor_plugin_submitit.states import (
    JobState,
    Outcome,
    Verdict,
    classify,
    held_notice,
)
from snakemake_executor_plugin_submitit.submit import (
    Submitter,
)

_INFRASTRUCTURE = {"NODE_FAIL", "BOOT_FAIL"}  # not the job's fault: resubmitted by the plugin
_LIMITS = {"TIMEOUT", "OUT_OF_MEMORY"}  # the request was too small: escalated once


class Executor(Adoption, Quota, Retries, RemoteExecutor):
    def __post_init__(self) -> None:
        settings = self.workflow.executor_settings
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.started_at = time.time()
        self.folder = Path(settings.folder).absolute()
        # the settings of the same names (--submitit-gpu-partition, ...)
        self.site = SiteDefaults(
            **{f.name: getattr(settings, f.name) for f in fields(SiteDefaults)}
        )
        self.settings = settings
        self.registry = SubmissionRegistry(self.folder / "submissions.jsonl")
        self.submitter = Submitter(self.folder, self.run_id, self.site, self.registry, self.logger)
        self.tracked: dict[str, Tracked] = {}  # slurm id -> what we know
        self.cancelled_by_us: set[str] = set()
        self.track_lock = threading.Lock()
        self.sacct_failures = 0
        self.previous_runs: dict[str, Submission] | None = None
        # --submitit-poll-interval, else Snakemake's own --seconds-between-status-checks
        self.poll_interval = settings.poll_interval or max(
            1, int(self.workflow.remote_execution_settings.seconds_between_status_checks)
        )
        self.next_seconds_between_status_checks = self.poll_interval
        # jobs run on this host because they need the internet (offline_compute_nodes)
        self.here = HostJobs(self.folder, self.run_id)
        self.partition_limits: dict[str | None, PartitionLimits] = {}
        self.quota = QuotaState()  # jobs held back under MaxSubmitJobs (quota.py)

    # ------------------------------------------------------------------------------ submit

    def run_job(self, job: JobExecutorInterface) -> None:
        if self._runs_here(job):
            self._run_here(job)
        else:
            self._submit_within_quota([[job]])

    def run_jobs(self, jobs: list[JobExecutorInterface]) -> None:
        for job in jobs:
            self.run_job_pre(job)
        for job in [job for job in jobs if self._runs_here(job)]:
            self._run_here(job)
        jobs = [job for job in jobs if not self._runs_here(job)]
        try:
            remaining = self._adopt_running(jobs)
        except Exception as error:  # never lose a job to a failed lookup: submit them all
            self.logger.warning(f"submitit: could not check for adoptable jobs ({error})")
            remaining = list(jobs)
        groups: dict[str, list[JobExecutorInterface]] = defaultdict(list)
        for job in remaining:
            try:
                key = json.dumps(self.submitter.parameters(job), sort_keys=True, default=str)
            except Exception as error:  # reported per job, never raised
                self._report_submit_error(job, error)
                continue
            # Only identical requests can share an array; group jobs go alone.
            groups[f"{job.name}\x1f{job.attempt}\x1f{key}"].append(job)
        batches = []
        for group in groups.values():
            batches.extend([[job] for job in group] if group[0].is_group() else [group])
        self._submit_within_quota(batches)

    def _submit_group(self, jobs: list[JobExecutorInterface]) -> None:
        """One sbatch for the group: a plain job, or an array when there are several."""
        chunk = max(1, self.submitter.array_size_cap() - 1)  # submitit numbers each array from 0
        for start in range(0, len(jobs), chunk):
            part = jobs[start : start + chunk]
            try:
                records = self._sbatch_jobs(part)
            except Exception as error:  # reported per job, never raised (pitfall 2)
                for job in part:
                    self._report_submit_error(job, error)
                continue
            for job, record in zip(part, records, strict=True):
                self._track(job, record)

    def _sbatch_jobs(
        self,
        jobs: list[JobExecutorInterface],
        escalation: Escalation | None = None,
        escalated_from: str = "",
    ) -> list[Submission]:
        commands = [self.format_job_exec(job) for job in jobs]
        return self.submitter.submit(jobs, commands, self._job_env(), escalation, escalated_from)

    def _report_submit_error(self, job: JobExecutorInterface, error: Exception) -> None:
        message = str(error).strip().splitlines()
        detail = message[-1] if message else repr(error)
        self.report_job_error(
            SubmittedJobInfo(job), msg=f"submission failed for rule {job.name}: {detail}"
        )

    def print_job_error(self, job_info: SubmittedJobInfo, msg=None, **kwargs) -> None:
        """Snakemake's GroupJob.log_error drops the message (the user reads `message: None`
        under each of the group's jobs): say it here first, with the group's name."""
        if msg and job_info.job.is_group():
            self.logger.error(f"submitit: group {job_info.job.groupid}: {msg}")
        super().print_job_error(job_info, msg, **kwargs)

    def _job_env(self) -> dict[str, str]:
        return {name: os.environ[name] for name in self.envvars() if name in os.environ}

    def _track(self, job: JobExecutorInterface, record: Submission) -> None:
        with self.track_lock:
            self.tracked[record.slurm_id] = Tracked(record)
        self.report_job_submission(
            SubmittedJobInfo(job, external_jobid=record.slurm_id, aux={"log": record.log})
        )

    # ------------------------------------------------------------------------------ here

    def _runs_here(self, job: JobExecutorInterface) -> bool:
        """Whether a job runs on the submitting host: it needs the internet, and the compute
        nodes have none (most clusters'); groups go to SLURM whatever they hold."""
        if not self.settings.offline_compute_nodes or job.is_group():
            return False
        try:
            return int(job.resources.get("internet", 0) or 0) > 0
        except (TypeError, ValueError):
            return False

    def _run_here(self, job: JobExecutorInterface) -> None:
        """Start the job's command here, as a compute node would run it (see here.py)."""
        try:
            job_id, log = self.here.start(
                safe_name(job.name), self.format_job_exec(job), {**os.environ, **self._job_env()}
            )
        except Exception as error:  # reported per job, never raised
            self._report_submit_error(job, error)
            return
        self.logger.info(
            f"submitit: {job.name}: running on this host, not on a compute node (it needs "
            f"the internet; --submitit-offline-compute-nodes); {job_id}; log: {log}"
        )
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=job_id, aux={"log": log}))

    def _judge_here(self, info: SubmittedJobInfo) -> bool:
        """Report a job running on this host once its process ended; False while it runs."""
        code, log = self.here.poll(info.external_jobid)
        if code is None:
            return False
        if code == 0:
            self.report_job_success(info)
        else:
            self.report_job_error(info, msg=host_failure(info.job.name, code, log), aux_logs=[log])
        return True

    # ------------------------------------------------------------------------------ poll

    async def check_active_jobs(self, active_jobs: list[SubmittedJobInfo]):
        here = [info for info in active_jobs if self.here.owns(info.external_jobid)]
        for info in here:
            if not self._judge_here(info):
                yield info
        active_jobs = [info for info in active_jobs if info not in here]
        if here and not active_jobs:
            self._submit_held()
            return
        ids = [info.external_jobid for info in active_jobs]
        states: dict[str, JobState] | None = None
        try:
            async with self.status_rate_limiter:
                states = await self._query_states(ids)
        except Exception as error:  # never kill the status thread
            self.logger.warning(f"submitit: status query failed ({error}); will retry")
        finished = False
        for info in active_jobs:
            try:
                done = self._judge(info, states)
            except Exception as error:
                self.logger.warning(f"submitit: cannot judge {info.external_jobid}: {error}")
                done = False
            if done:
                finished = True
            else:
                yield info
        holding = self._submit_held()  # jobs held back under the submit limit, as room frees
        self.next_seconds_between_status_checks = cluster.next_poll_delay(
            self.poll_interval, self.next_seconds_between_status_checks, finished or holding
        )

    async def sleep(self) -> None:
        """The pause between rounds, cut short when Snakemake shuts the executor down (the base
        class sleeps it out: every run would end up to a whole pause after its last job)."""
        deadline = time.monotonic() + self.next_seconds_between_status_checks
        while self.wait and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.25))

    async def _query_states(self, ids: list[str]) -> dict[str, JobState] | None:
        """One sacct call per round (chunked); squeue when accounting is unavailable."""
        if not ids:
            return {}
        if self.sacct_failures < 2:
            try:
                with self.track_lock:
                    submitted_at = {
                        i: self.tracked[i].submission.submitted_at for i in ids if i in self.tracked
                    }
                states = await asyncio.to_thread(
                    cluster.query_sacct, ids, self.started_at, submitted_at
                )
                self.sacct_failures = 0
                with contextlib.suppress(RuntimeError):  # held or not: next round asks again
                    states = await asyncio.to_thread(cluster.with_pending_reasons, states)
                return states
            except RuntimeError as error:
                self.sacct_failures += 1
                self.logger.warning(f"submitit: sacct failed ({error})")
                return None
        # Accounting looks disabled or down: slurmctld knows jobs younger than MinJobAge;
        # result files cover the rest. Try sacct again next time.
        self.sacct_failures = 1
        try:
            return await asyncio.to_thread(cluster.query_squeue, ids)
        except RuntimeError as error:
            self.logger.warning(f"submitit: squeue failed too ({error})")
            return None

    def _judge(self, info: SubmittedJobInfo, states: dict[str, JobState] | None) -> bool:
        """Report success or error for one job and return True, or return False to wait."""
        slurm_id = info.external_jobid
        with self.track_lock:
            tracked = self.tracked.get(slurm_id)
        if tracked is None:  # submitted before a restart of this object: should not happen
            tracked = Tracked(Submission.unknown(slurm_id, info.job.name, info.aux.get("log", "")))
        submission, now = tracked.submission, time.time()
        rule = submission.rule
        result = read_result(Path(submission.folder), slurm_id)
        if result is not None:
            status, value = result
            if status == "success":
                return self._finish(info, slurm_id, None)
            # The command failed. If SLURM killed it for memory (cgroup OOM kills the child,
            # not submitit's process), say so: wait for sacct to show the step's end.
            state = (states or {}).get(slurm_id)
            if state is not None and state.state == "FAILED" and oom_killed(submission.log):
                state = replace(state, state="OUT_OF_MEMORY")  # the step's row may lag
            if state is not None and state.state in _LIMITS:
                verdict = classify(state, rule, submission.log)
                return self._over_limit(info, tracked, verdict, with_tail=True)
            tracked.completed_since = tracked.completed_since or now
            settled = state is not None and state.state not in ("RUNNING", "COMPLETING")
            if not settled and now - tracked.completed_since < 60:
                return False
            message = result_error(value, slurm_id, rule, submission.log)
            if message.startswith("TIMEOUT:"):  # submitit's own time-limit stop
                return self._over_limit(info, tracked, Verdict(Outcome.FAILED, "TIMEOUT", message))
            return self._finish(info, slurm_id, message)
        if states is None:
            return False  # no answer this round: wait, never guess
        state = states.get(slurm_id)
        if state is None:
            tracked.missing_since = tracked.missing_since or now
            if now - tracked.missing_since < self.settings.missing_grace_s:
                return False  # slurmdbd lags behind new jobs
            message = (
                f"LOST: slurm job {slurm_id} not found by sacct/squeue for "
                f"{self.settings.missing_grace_s} s; treated as failed; log: {submission.log}"
            )
            return self._finish(info, slurm_id, message)
        tracked.missing_since = None
        verdict = classify(state, rule, submission.log, slurm_id in self.cancelled_by_us)
        if verdict.outcome is Outcome.RUNNING:
            self._tell_if_held(tracked, state)
            if state.state in {"PREEMPTED", "REQUEUE_HOLD", "SPECIAL_EXIT"}:
                tracked.waiting_since = tracked.waiting_since or now
                if now - tracked.waiting_since >= self.settings.preempted_grace_s:
                    return self._finish(
                        info,
                        slurm_id,
                        f"{state.state}: slurm job {slurm_id} was not requeued within "
                        f"{self.settings.preempted_grace_s} s (held jobs need `scontrol "
                        f"release {slurm_id}`); log: {submission.log}",
                    )
            else:
                tracked.waiting_since = None
            return False
        if verdict.outcome is Outcome.SUCCESS:
            # The result file is the proof; give the shared file system a moment to show it.
            tracked.completed_since = tracked.completed_since or now
            if now - tracked.completed_since < 60:
                return False
            self.logger.warning(f"submitit: {slurm_id} COMPLETED without a result file")
            return self._finish(info, slurm_id, None)
        if (
            state.state in _INFRASTRUCTURE
            and tracked.infra_retries < self.settings.node_fail_retries
        ):
            return self._resubmit(info, tracked, verdict.message)
        if state.state in _LIMITS:
            return self._over_limit(info, tracked, verdict, with_tail=True)
        return self._finish(info, slurm_id, verdict.message + log_tail(submission.log))

    def _tell_if_held(self, tracked: Tracked, state: JobState) -> None:
        """A held job waits forever: say so at once (once per hold), with how to release it."""
        notice = held_notice(state, tracked.submission.rule)
        if notice is not None and tracked.held_reason != state.reason:
            self.logger.warning(f"submitit: {notice}")
        tracked.held_reason = state.reason if notice is not None else None

    def _finish(self, info: SubmittedJobInfo, slurm_id: str, error: str | None) -> bool:
        with self.track_lock:
            tracked = self.tracked.pop(slurm_id, None)
        log = tracked.submission.log if tracked else info.aux.get("log")
        if error is None:
            self.report_job_success(info)
        else:
            self.report_job_error(info, msg=error, aux_logs=[log] if log else [])
        return True

    # ------------------------------------------------------------------------------ cancel

    def cancel_jobs(self, active_jobs: list[SubmittedJobInfo]) -> None:
        """Ctrl-C: cancel every job this run submitted or adopted that is not finished.

        The status round may hold part of the active list, so cancel from our own record.
        """
        self.here.terminate_all()
        self._drop_held()
        with self.track_lock:
            ids = set(self.tracked) | {info.external_jobid for info in active_jobs}
        ids = sorted(i for i in ids if i and not i.startswith(ID_PREFIX))
        if not ids:
            return
        self.cancelled_by_us.update(ids)
        try:
            cluster.cancel(ids)
            self.logger.info(f"submitit: cancelled {len(ids)} SLURM job(s): {' '.join(ids)}")
        except (OSError, subprocess.TimeoutExpired) as error:
            self.logger.error(f"submitit: scancel failed ({error}); cancel by hand: {ids}")
