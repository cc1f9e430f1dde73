"""Snakemake resources -> submitit SlurmExecutor parameters: one pure function, no I/O.

Every SLURM flag a job gets is decided here, so it can be tested without a cluster. The
names on the left are the rule's `resources:` (standard Snakemake names plus a few `slurm_*`
ones a profile's `set-resources` can give per rule); the dict on the right is what
`submitit.SlurmExecutor.update_parameters` takes.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ResourceError(ValueError):
    """A rule's resources cannot be turned into a valid sbatch request."""


@dataclass(frozen=True)
class SiteDefaults:
    """Site specifics that are not experiment facts: from the profile or the environment."""

    gpu_partition: str | None = None  # partition for jobs with gpu > 0
    cpu_partition: str | None = None  # partition for the rest (None: the cluster's default)
    account: str | None = None
    qos: str | None = None
    gpu_request_style: str = "gres"  # gres | gpus-per-node
    wckey: str | None = None  # submitit forces "submitit" unless told; None sends none
    array_parallelism: int = 16
    signal_delay_s: int = 120
    default_runtime: int = 60  # minutes, for a rule without a `runtime` resource (warned)


# sbatch flags that this module owns: an escape hatch must not set them a second time.
_OWNED_FLAGS = {
    "job-name", "output", "error", "array", "signal", "time", "mem", "mem-per-cpu",
    "mem-per-gpu", "gres", "gpus", "gpus-per-node", "gpus-per-task", "partition", "account",
    "qos", "open-mode", "wckey", "cpus-per-task", "requeue", "no-requeue",
    "comment",  # carries the submission's intent (registry.py)
}  # fmt: skip
_GRES = re.compile(r"^[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:\d+)?$")
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _positive_int(resources: Mapping[str, Any], key: str, rule: str) -> int | None:
    value = resources.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ResourceError(f"rule {rule}: resource {key}={value!r} is not an integer") from None
    if number < 0 or number != float(value):
        raise ResourceError(f"rule {rule}: resource {key}={value!r} must be a whole number >= 0")
    return number


def _name(resources: Mapping[str, Any], key: str, rule: str, default: str | None) -> str | None:
    value = resources.get(key, default)
    if value in (None, ""):
        return None
    value = str(value)
    if not _NAME.match(value):
        raise ResourceError(
            f"rule {rule}: {key}={value!r} is not a valid SLURM name (letters, digits, _.+-)"
        )
    return value


def parse_slurm_extra(extra: str, rule: str) -> dict[str, Any]:
    """`--key=value --flag` -> {"key": "value", "flag": True}; refuse flags we own."""
    parsed: dict[str, Any] = {}
    for token in shlex.split(extra):
        if not token.startswith("--"):
            raise ResourceError(
                f"rule {rule}: slurm_extra item {token!r} is not a long option (--key=value)"
            )
        key, eq, value = token[2:].partition("=")
        if key in _OWNED_FLAGS:
            raise ResourceError(
                f"rule {rule}: slurm_extra sets --{key}, which the plugin sets from the rule's "
                f"resources; use the resource instead (runtime, mem_mb, gpu, gpu_model, "
                f"slurm_partition, slurm_account, qos, ...)"
            )
        parsed[key.replace("-", "_")] = value if eq else True
    return parsed


def _memory(resources: Mapping[str, Any], rule: str) -> dict[str, str]:
    """Exactly one of mem / mem-per-cpu / mem-per-gpu: SLURM rejects two, and Snakemake's
    remote defaults always add mem_mb, so the per-cpu/per-gpu forms win when given."""
    per_cpu = _positive_int(resources, "mem_mb_per_cpu", rule)
    per_gpu = _positive_int(resources, "mem_mb_per_gpu", rule)
    if per_cpu and per_gpu:
        raise ResourceError(
            f"rule {rule}: both mem_mb_per_cpu and mem_mb_per_gpu are set; SLURM takes one"
        )
    if per_cpu:
        return {"mem_per_cpu": f"{per_cpu}M"}
    if per_gpu:
        return {"mem_per_gpu": f"{per_gpu}M"}
    # SLURM's "M" is MiB; Snakemake derives mem_mib from mem_mb, so prefer it.
    mib = _positive_int(resources, "mem_mib", rule)
    if mib is None:
        mb = _positive_int(resources, "mem_mb", rule)
        mib = None if mb is None else math.ceil(mb * 1000**2 / 1024**2)  # never ask for less
    return {"mem": f"{mib}M"} if mib else {}


def _gpus(resources: Mapping[str, Any], rule: str, style: str) -> dict[str, Any]:
    gres = resources.get("gres")
    count = _positive_int(resources, "gpu", rule) or 0
    model = _name(resources, "gpu_model", rule, None)
    if gres:
        if count:
            raise ResourceError(
                f"rule {rule}: both gres={gres!r} and gpu={count} are set; use one of them"
            )
        gres = str(gres)
        if not _GRES.match(gres):
            raise ResourceError(
                f"rule {rule}: gres={gres!r} is not of the form name[:type][:count], "
                f"e.g. gpu:h100:1 (no quotes, no spaces)"
            )
        return {"gres": gres}
    if not count:
        if model:
            raise ResourceError(f"rule {rule}: gpu_model={model!r} is set but gpu is 0")
        return {}
    if style == "gres":
        return {"gres": f"gpu:{model}:{count}" if model else f"gpu:{count}"}
    if style == "gpus-per-node":
        # submitit writes --gpus-per-node=N; a model needs the gres form or a constraint.
        extra = {"constraint": model} if model else {}
        return {"gpus_per_node": count, **extra}
    raise ResourceError(f"gpu request style {style!r} is not one of: gres, gpus-per-node")


def slurm_parameters(
    rule: str,
    resources: Mapping[str, Any],
    threads: int,
    site: SiteDefaults,
    *,
    job_name: str,
    requeue: bool,
) -> dict[str, Any]:
    """The submitit SlurmExecutor parameters for one job (or one array of identical jobs)."""
    # submitit would ask for its own 5 minutes; the site's default is stated and warned about
    # (Submitter.parameters) instead, as Snakemake's executor test base runs rules without one.
    runtime = _positive_int(resources, "runtime", rule) or site.default_runtime
    params: dict[str, Any] = {"time": runtime, "job_name": job_name, "stderr_to_stdout": True}
    gpu_count = _positive_int(resources, "gpu", rule) or 0
    default_partition = site.gpu_partition if gpu_count else site.cpu_partition
    optional = {
        "partition": _name(resources, "slurm_partition", rule, default_partition),
        "account": _name(resources, "slurm_account", rule, site.account),
        "qos": _name(resources, "qos", rule, site.qos),
        "constraint": resources.get("constraint") or None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    # submitit sends --wckey=submitit unless told None (some sites reject unknown wckeys)
    params["wckey"] = site.wckey
    params.update(_memory(resources, rule))
    gpus = _gpus(resources, rule, site.gpu_request_style)
    if "constraint" in gpus and "constraint" in params:
        gpus["constraint"] = f"{params['constraint']}&{gpus['constraint']}"
    params.update(gpus)
    cpus = _positive_int(resources, "cpus_per_task", rule) or threads
    if cpus:
        params["cpus_per_task"] = cpus
    delay = _positive_int(resources, "slurm_signal_delay_s", rule) or site.signal_delay_s
    if delay >= runtime * 60:
        raise ResourceError(
            f"rule {rule}: slurm_signal_delay_s={delay} is not shorter than runtime={runtime} "
            f"min; the pre-timeout signal would arrive before the job starts"
        )
    params["signal_delay_s"] = delay
    params["array_parallelism"] = (
        _positive_int(resources, "array_parallelism", rule) or site.array_parallelism
    )
    additional = parse_slurm_extra(str(resources.get("slurm_extra") or ""), rule)
    # Checkpointable jobs requeue themselves (submitit calls `scontrol requeue`); the rest
    # must not be rerun by SLURM behind Snakemake's back, or --retries sees no failure.
    additional["requeue" if requeue else "no_requeue"] = True
    params["additional_parameters"] = additional
    return params
