"""Snakemake executor plugin: submit jobs to SLURM through submitit (`executor: submitit`).

Snakemake imports this module on every call (`--version` and `-n` included), so it imports
only the plugin interface and defines classes; submitit, sacct and the cluster are touched
only when a real run builds the Executor. See README.md ("Running on SLURM") for what it does.
"""

# No `from __future__ import annotations`: Snakemake reads these fields' types at runtime
# (plain or Optional[X] only), hence Optional rather than `X | None`.
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

from snakemake_executor_plugin_submitit.executor import Executor

__all__ = ["Executor", "ExecutorSettings", "common_settings"]


def _setting(default, help_text: str, env: bool = False, **extra):
    return field(default=default, metadata={"help": help_text, "env_var": env, **extra})


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """--submitit-<name> on the command line, submitit-<name>: in a profile; site values
    (partitions, account, qos) also from SNAKEMAKE_SUBMITIT_<NAME> environment variables."""

    gpu_partition: Optional[str] = _setting(
        None, "SLURM partition for jobs that ask for GPUs (per rule: slurm_partition)", env=True
    )
    cpu_partition: Optional[str] = _setting(
        None, "SLURM partition for jobs without GPUs (default: the cluster's default)", env=True
    )
    account: Optional[str] = _setting(None, "SLURM account (none: the user's default)", env=True)
    qos: Optional[str] = _setting(None, "SLURM QOS (none: the partition's default)", env=True)
    gpu_request_style: str = _setting(
        "gres",
        "how GPUs are requested: gres (--gres=gpu:<model>:<n>) or gpus-per-node",
        env=True,
        choices=["gres", "gpus-per-node"],
    )
    wckey: Optional[str] = _setting(None, "SLURM wckey (none sends no --wckey)", env=True)
    folder: Path = _setting(
        Path(".snakemake/submitit"), "submitit's folder (pickles, job logs); on the shared FS"
    )
    array_parallelism: int = _setting(
        16,
        "how many tasks of one job array may run at once (sbatch --array's throttle; per rule: "
        "array_parallelism)",
    )
    signal_delay_s: int = _setting(
        120, "seconds before the time limit that jobs get USR2 to checkpoint and requeue"
    )
    default_runtime: int = _setting(
        60,
        "minutes asked for a rule that sets no `runtime` resource (a warning names the rule; "
        "submitit alone would ask for 5)",
        env=True,
    )
    poll_interval: Optional[int] = _setting(
        None,
        "seconds between status rounds (one sacct call for all active jobs per round; backs "
        "off to 6x while nothing finishes, at most 180 s); default: Snakemake's "
        "--seconds-between-status-checks",
    )
    missing_grace_s: int = _setting(
        300, "how long a job may be absent from sacct/squeue before it counts as lost"
    )
    preempted_grace_s: int = _setting(
        600, "how long a PREEMPTED/held job may wait for its requeue before it counts as failed"
    )
    node_fail_retries: int = _setting(
        2, "resubmissions of a job whose node failed under it (NODE_FAIL, BOOT_FAIL)"
    )
    escalation_factor: float = _setting(
        2.0,
        "a job that ends TIMEOUT (and cannot checkpoint) or OUT_OF_MEMORY is submitted once "
        "more with runtime or memory times this, up to the partition's limit; 1 turns it off",
    )
    no_adopt: bool = _setting(
        False, "never adopt still-running jobs submitted by an earlier, killed Snakemake process"
    )
    offline_compute_nodes: bool = _setting(
        False,
        "the compute nodes cannot reach the internet: jobs of rules that declare the resource "
        "internet=1 (prepare_models, prepare_dataset) run here, on the submitting host",
        env=True,
    )

    def __post_init__(self) -> None:
        if not isinstance(self.escalation_factor, (int, float)) or self.escalation_factor < 1:
            raise ValueError(
                f"--submitit-escalation-factor must be a number >= 1 (1: never escalate), "
                f"got {self.escalation_factor!r}"
            )
        for name in ("array_parallelism", "signal_delay_s", "default_runtime", "poll_interval"):
            value = getattr(self, name)
            if value is None and name == "poll_interval":
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"--submitit-{name.replace('_', '-')} must be a positive integer, got {value!r}"
                )


common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=False,  # submitit's folder and the outputs live on the shared FS
    job_deploy_sources=False,
    # Environment variables travel inside the pickled callable, not in the command line
    # (where they would show in `ps`, logs and the pickle's command text).
    pass_envvar_declarations_to_cmd=False,
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=10,
)
