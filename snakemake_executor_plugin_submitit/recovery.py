"""What a restarted driver does about the jobs of an earlier, killed one: adopt those still
queued or running (the Executor's mixin below), after finding the ones it had SLURM accept but
never recorded (reconcile_intents; registry.py)."""

from __future__ import annotations

from typing import Any

from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.registry import SubmissionRegistry, job_key
from snakemake_executor_plugin_submitit.states import Outcome, classify
from snakemake_executor_plugin_submitit.submit import intent_submission, job_wildcards


class Adoption:
    """The Executor's adoption of an earlier driver's jobs (a mixin: it uses the executor's
    registry, settings and tracking)."""

    def _adopt_running(self, jobs: list[JobExecutorInterface]) -> list[JobExecutorInterface]:
        """Jobs an earlier, killed driver submitted that still run: wait for them instead."""
        if self.settings.no_adopt:
            return list(jobs)
        if self.previous_runs is None:
            reconcile_intents(self.registry, self.run_id, self.logger)
            self.previous_runs = {
                key: s
                for key, s in self.registry.latest_by_key().items()
                if s.run_id != self.run_id
            }
        candidates = {}
        for job in jobs:
            key = job_key(job.name, job_wildcards(job), [str(f) for f in job.output])
            if key in self.previous_runs:
                candidates[job] = self.previous_runs.pop(key)  # adopt at most once
        if not candidates:
            return list(jobs)
        ids = [s.slurm_id for s in candidates.values()]
        submitted_at = {s.slurm_id: s.submitted_at for s in candidates.values()}
        states = cluster.query_states_now(ids, self.started_at, self.logger.warning, submitted_at)
        remaining = []
        for job, submission in candidates.items():
            state = states.get(submission.slurm_id)
            verdict = classify(state, job.name, submission.log) if state else None
            if verdict is not None and verdict.outcome is Outcome.RUNNING:
                self.logger.info(
                    f"submitit: adopting slurm job {submission.slurm_id} ({state.state}) for "
                    f"{job.name} {submission.wildcards}, submitted by run {submission.run_id}"
                )
                self._track(job, submission)
            else:
                remaining.append(job)
        return remaining + [job for job in jobs if job not in candidates]


def reconcile_intents(registry: SubmissionRegistry, run_id: str, logger: Any) -> None:
    """Find the jobs of earlier drivers' unresolved intents with one squeue (the intent is the
    job's comment) and record them, so that adoption then waits for
    them instead of submitting the same runs again. Costs nothing after a clean exit: there
    are no unresolved intents then."""
    from submitit.core.utils import JobPaths

    intents = registry.unresolved_intents(run_id)
    if not intents:
        return
    found = cluster.jobs_by_comment()
    records, closed, unusable = [], [], []
    for intent in intents:
        ids = found.get(intent.comment)
        if not ids:
            closed.append(intent.intent)  # never reached the queue, or ended long ago
            continue
        parent = min(ids).split("_")[0]
        count = len(intent.keys)
        slurm_ids = [f"{parent}_{i}" for i in range(count)] if count > 1 else [parent]
        if all(JobPaths(intent.folder, i).submitted_pickle.exists() for i in slurm_ids):
            records.extend(intent_submission(intent, n, i) for n, i in enumerate(slurm_ids))
            logger.info(
                f"submitit: found slurm job {parent} ({intent.rule}, {count} job(s)) that run "
                f"{intent.run_id} submitted but did not record before it stopped"
            )
        else:  # submitit stopped before it handed over the work: the job can only fail
            unusable.append(parent)
            closed.append(intent.intent)
    if unusable:
        logger.warning(
            f"submitit: cancelling slurm job(s) {' '.join(unusable)}: their driver died before "
            f"it wrote their work; the runs are submitted again"
        )
        cluster.cancel(unusable)
    registry.append(records)
    registry.close_intents(closed)
