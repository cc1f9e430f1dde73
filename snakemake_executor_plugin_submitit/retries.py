"""Submitting a Snakemake job again as a new SLURM job, for the Executor (a mixin: it uses the
executor's tracking, submitter and settings): after a node failed under it (NODE_FAIL,
BOOT_FAIL), or once with a larger request after it hit its time or memory limit
(escalation.py decides how much). A resubmission waits for room under the submit limit
(quota.py) and goes before the jobs held back there."""

from __future__ import annotations

import contextlib
import subprocess

from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.escalation import (
    Escalation,
    PartitionLimits,
    escalate,
    parse_limits,
)
from snakemake_executor_plugin_submitit.job_results import log_tail
from snakemake_executor_plugin_submitit.registry import Tracked
from snakemake_executor_plugin_submitit.states import Verdict
from snakemake_executor_plugin_submitit.submit import max_timeout_requeues


class Retries:
    def _over_limit(
        self, info: SubmittedJobInfo, tracked: Tracked, verdict: Verdict, with_tail: bool = False
    ) -> bool:
        """TIMEOUT (for a job that cannot checkpoint) or OUT_OF_MEMORY: resubmit once with a
        larger request (escalation.py); a second time, or past the partition's limit, fail
        with the message that says what to change. Code errors never come here."""
        submission = tracked.submission
        message = verdict.message + (log_tail(submission.log) if with_tail else "")
        if tracked.escalation:
            return self._finish(
                info,
                submission.slurm_id,
                f"{message}\n(after one escalation: {tracked.escalation})",
            )
        factor = float(self.settings.escalation_factor)
        if factor <= 1 or (verdict.state == "TIMEOUT" and max_timeout_requeues(info.job) > 0):
            return self._finish(info, submission.slurm_id, message)
        params = self.submitter.parameters(info.job)
        outcome = escalate(verdict.state, params, factor, self._limits(params.get("partition")))
        if isinstance(outcome, str):
            return self._finish(info, submission.slurm_id, f"{message}\n(not escalated: {outcome})")
        why = f"{verdict.state}: slurm job {submission.slurm_id} (rule {submission.rule})"
        return self._resubmit(info, tracked, why, outcome)

    def _limits(self, partition: str | None) -> PartitionLimits:
        """The partition's time and memory limits, read once per run (one sinfo call)."""
        if partition not in self.partition_limits:
            try:
                limits = parse_limits(cluster.partition_sinfo(partition))
            except RuntimeError as error:
                self.logger.warning(f"submitit: cannot read partition limits ({error})")
                limits = PartitionLimits(None, None)
            self.partition_limits[partition] = limits
        return self.partition_limits[partition]

    def _resubmit(
        self, info: SubmittedJobInfo, tracked: Tracked, why: str, raise_: Escalation | None = None
    ) -> bool:
        """Submit the same Snakemake job again as a new SLURM job: after a node failed under it,
        or (`raise_`) with a larger request after it hit its time or memory limit."""
        old_id = tracked.submission.slurm_id
        if raise_ is not None:  # submitit may still be winding it down: never two at once
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                cluster.cancel([old_id])
        with self._room_for_one() as room:
            if not room:  # at the submit limit: again next round, before held jobs (quota.py)
                return False
            try:
                record = self._sbatch_jobs([info.job], raise_, old_id if raise_ else "")[0]
            except Exception as error:
                return self._finish(info, old_id, f"{why}; resubmission failed: {error}")
        retry = tracked.infra_retries + (0 if raise_ else 1)
        escalation = raise_.description if raise_ else tracked.escalation
        with self.track_lock:
            self.tracked.pop(old_id, None)
            self.tracked[record.slurm_id] = Tracked(
                record, infra_retries=retry, escalation=escalation
            )
        info.external_jobid = record.slurm_id  # Snakemake keeps waiting on the same job info
        info.aux = {**(info.aux or {}), "log": record.log}
        note = (
            f"escalated once: {escalation}; --submitit-escalation-factor"
            if raise_
            else f"infrastructure retry {retry} of {self.settings.node_fail_retries}"
        )
        self.logger.warning(
            f"submitit: {why}\nsubmitit: resubmitted as slurm job {record.slurm_id} ({note})"
        )
        return False
