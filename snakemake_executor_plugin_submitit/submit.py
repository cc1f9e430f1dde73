"""One sbatch for a set of jobs with identical requests (a job array when there are several),
retried while the controller is busy, and recorded in the submissions registry before the
driver tracks it."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from snakemake_executor_plugin_submitit import cluster
from snakemake_executor_plugin_submitit.accounting import array_job_name, safe_name
from snakemake_executor_plugin_submitit.params import SiteDefaults, slurm_parameters
from snakemake_executor_plugin_submitit.registry import Submission, SubmissionRegistry, job_key

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

    def parameters(self, job: JobExecutorInterface, job_name: str = "") -> dict[str, Any]:
        """submitit's SlurmExecutor parameters for the job (params.slurm_parameters)."""
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
        self, jobs: list[JobExecutorInterface], commands: list[str], env: dict[str, str]
    ) -> list[Submission]:
        """Submit identical-request jobs, each with its shell command; record and return them."""
        import submitit

        from snakemake_executor_plugin_submitit.callable import SnakemakeJobCommand

        first = jobs[0]
        wildcards = [job_wildcards(job) for job in jobs]
        params = self.parameters(first, job_name=array_job_name(first.name, wildcards))
        folder = self.folder / safe_name(first.name)
        requeues = max_timeout_requeues(first)
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=requeues)
        executor.update_parameters(**params)
        # Training gets the signal lead time minus a margin to write its checkpoint; rules
        # that cannot resume are stopped at once (a requeue starts them over).
        grace = max(0, params["signal_delay_s"] - 30) if requeues else 0
        callables = [SnakemakeJobCommand(c, env, os.getcwd(), grace) for c in commands]
        submitted = self._sbatch(executor, callables)
        records = [
            Submission(
                key=job_key(job.name, wc, [str(f) for f in job.output]),
                slurm_id=str(slurm_job.job_id),
                rule=job.name,
                wildcards=wc,
                log=str(slurm_job.paths.stdout),
                folder=str(folder),
                submitted_at=time.time(),
                run_id=self.run_id,
                time_min=params["time"],
                gpus=int(first.resources.get("gpu", 0) or 0),
                gpu_model=first.resources.get("gpu_model") or None,
                partition=params.get("partition"),
            )
            for job, slurm_job, wc in zip(jobs, submitted, wildcards, strict=True)
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
