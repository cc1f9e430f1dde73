"""One sbatch for a set of jobs with identical requests (a job array when there are several),
retried while the controller is busy, and recorded in the submissions registry before the
driver tracks it."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.accounting import array_job_name, safe_name
from snakemake_executor_plugin_submitit.escalation import Escalation
from snakemake_executor_plugin_submitit.params import SiteDefaults, slurm_parameters
from snakemake_executor_plugin_submitit.registry import (
    Intent,
    Submission,
    SubmissionRegistry,
    job_key,
)

SUBMIT_TRIES = 3


@dataclass
class Submitter:
    """Submits for one driver run (`run_id`) into submitit's `folder`."""

    folder: Path
    run_id: str
    site: SiteDefaults
    registry: SubmissionRegistry
    logger: Any
    max_array_size: int | None = None
    warned_no_runtime: set[str] = field(default_factory=set)

    def parameters(self, job: JobExecutorInterface, job_name: str = "") -> dict[str, Any]:
        """submitit's SlurmExecutor parameters for the job (params.slurm_parameters)."""
        if not job.resources.get("runtime") and job.name not in self.warned_no_runtime:
            self.warned_no_runtime.add(job.name)
            self.logger.warning(
                f"submitit: rule {job.name} sets no `runtime`; asking SLURM for "
                f"{self.site.default_runtime} min (--submitit-default-runtime). Set `runtime` "
                f"in the rule or the profile's default-resources to ask for what it needs."
            )
        return slurm_parameters(
            job.name,
            job.resources,
            job.threads,
            self.site,
            job_name=job_name,
            requeue=max_timeout_requeues(job) > 0,
        )

    def array_size_cap(self) -> int:
        """MaxArraySize, read once per run (never at import)."""
        if self.max_array_size is None:
            self.max_array_size = cluster.read_max_array_size()
        return self.max_array_size

    def submit(
        self,
        jobs: list[JobExecutorInterface],
        commands: list[str],
        env: dict[str, str],
        escalation: Escalation | None = None,
        escalated_from: str = "",
    ) -> list[Submission]:
        """Submit identical-request jobs, each with its shell command; record and return them.
        An escalation replaces part of the request (the retry of `escalated_from`)."""
        import submitit

        from snakemake_executor_plugin_submitit.callable import SnakemakeJobCommand

        first = jobs[0]
        wildcards = [job_wildcards(job) for job in jobs]
        job_name = array_job_name(first.name, wildcards)
        params = self.parameters(first, job_name=job_name)
        if escalation is not None:
            params.update(escalation.overrides)
        folder = self.folder / safe_name(first.name)
        intent = Intent(
            intent=uuid.uuid4().hex[:16],
            run_id=self.run_id,
            rule=first.name,
            folder=str(folder),
            keys=[job_key(job.name, wc, [str(f) for f in job.output]) for job, wc in
                  zip(jobs, wildcards, strict=True)],
            wildcards=wildcards,
            at=time.time(),
            time_min=params["time"],
            gpus=int(first.resources.get("gpu", 0) or 0),
            gpu_model=first.resources.get("gpu_model") or None,
            partition=params.get("partition"),
            escalated_from=escalated_from,
            escalation=escalation.description if escalation is not None else "",
        )  # fmt: skip
        # The job carries its intent, so a restarted driver can tell it from any other job.
        params["additional_parameters"]["comment"] = intent.comment
        requeues = max_timeout_requeues(first)
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=requeues)
        executor.update_parameters(**params)
        # Training gets the signal lead time minus a margin to write its checkpoint; rules
        # that cannot resume are stopped at once (a requeue starts them over).
        grace = max(0, params["signal_delay_s"] - 30) if requeues else 0
        callables = [SnakemakeJobCommand(c, env, os.getcwd(), grace) for c in commands]
        self.registry.record_intent(intent)  # before sbatch: see registry.py
        try:
            submitted = self._sbatch(executor, callables)
        except Exception as error:
            if not cluster.is_transient(error):  # refused: nothing reached the queue
                self.registry.close_intents([intent.intent])
            raise
        records = [
            intent_submission(intent, index, str(slurm_job.job_id))
            for index, slurm_job in enumerate(submitted)
        ]
        self.registry.append(records)
        kind = f"array of {len(jobs)}" if len(jobs) > 1 else "job"
        self.logger.info(
            f"submitit: {first.name}: submitted {kind} {records[0].slurm_id.split('_')[0]}"
            f" ({params.get('partition', 'default partition')}, {params.get('gres', 'no gres')},"
            f" {params['time']} min); log: {records[0].log}"
        )
        return records

    def _sbatch(self, executor: Any, callables: list[Any]) -> list[Any]:
        """Submit, retrying transient controller errors (pitfall 7); raise permanent ones."""
        delay = 2.0
        for attempt in range(1, SUBMIT_TRIES + 1):
            try:
                with cluster.clean_slurm_env():
                    if len(callables) == 1:
                        return [executor.submit(callables[0])]
                    with executor.batch():
                        futures = [executor.submit(c) for c in callables]
                    return futures
            except Exception as error:
                if attempt == SUBMIT_TRIES or not cluster.is_transient(error):
                    raise
                self.logger.warning(f"submitit: sbatch failed ({str(error).strip()}); retrying")
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def intent_submission(intent: Intent, index: int, slurm_id: str) -> Submission:
    """The submission line of task `index` of an intent's sbatch, once SLURM named it."""
    from submitit.core.utils import JobPaths

    return Submission(
        key=intent.keys[index],
        slurm_id=slurm_id,
        rule=intent.rule,
        wildcards=intent.wildcards[index],
        log=str(JobPaths(intent.folder, slurm_id, 0).stdout),
        folder=intent.folder,
        submitted_at=intent.at,
        run_id=intent.run_id,
        time_min=intent.time_min,
        gpus=intent.gpus,
        gpu_model=intent.gpu_model,
        partition=intent.partition,
        intent=intent.intent,
        escalated_from=intent.escalated_from,
        escalation=intent.escalation,
    )


def job_wildcards(job: JobExecutorInterface) -> dict[str, str]:
    """A job's wildcards as strings (the registry's and the job names' view of it)."""
    properties = job.properties()
    if isinstance(properties, str):
        properties = json.loads(properties)
    return {k: str(v) for k, v in (properties.get("wildcards") or {}).items()}


def max_timeout_requeues(job: JobExecutorInterface) -> int:
    """Rules that checkpoint declare `max_timeout_requeues` (how often a job may hit its
    time limit, checkpoint and requeue itself); the rest cannot resume, so 0."""
    try:
        return max(0, int(job.resources.get("max_timeout_requeues", 0) or 0))
    except (TypeError, ValueError):
        return 0
