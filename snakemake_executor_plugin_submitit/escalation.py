"""Bounded escalation: a job that SLURM stopped at its time limit (and cannot checkpoint) or
killed for memory is submitted once more, asking for `factor` times as much, up to what the
partition allows. Pure functions; the executor decides when (once per job, never for a code
error) and records what was changed in the submissions registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The sbatch memory forms params.slurm_parameters writes, all in MiB ("1908M").
MEMORY_KEYS = ("mem", "mem_per_cpu", "mem_per_gpu")


@dataclass(frozen=True)
class PartitionLimits:
    max_minutes: int | None  # None: no time limit
    max_memory_mib: int | None  # the largest node's memory; None: unknown


@dataclass(frozen=True)
class Escalation:
    overrides: dict[str, object]  # submitit parameters replacing the job's own
    description: str  # "runtime 1 -> 2 min", kept in the registry and shown in gpu-usage


def slurm_minutes(text: str) -> int | None:
    """sinfo's time limit (`infinite`, `30:00`, `24:00:00`, `1-12:00:00`) in minutes."""
    text = text.strip()
    if not text or text.lower() in ("infinite", "unlimited", "n/a"):
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = [0, 0, 0, *parts][-3:] if len(parts) > 1 else (0, parts[0], 0)
    total = (int(days) if days else 0) * 1440 + hours * 60 + minutes
    return total + (1 if seconds else 0)


def parse_limits(sinfo: str) -> PartitionLimits:
    """`sinfo -h -p P -o %l|%m` (one line per node configuration) -> the partition's limits."""
    minutes: int | None = None
    memory: int | None = None
    for line in sinfo.splitlines():
        limit, sep, mem = line.strip().partition("|")
        if not sep:
            continue
        minutes = slurm_minutes(limit)
        number = re.match(r"\d+", mem)
        if number:
            memory = max(memory or 0, int(number.group()))
    return PartitionLimits(minutes, memory)


def escalate(
    state: str, params: dict[str, object], factor: float, limits: PartitionLimits
) -> Escalation | str:
    """The request for the one retry after TIMEOUT or OUT_OF_MEMORY, or why there is none."""
    if state == "TIMEOUT":
        current = int(params["time"])
        wanted = int(current * factor + 0.999)
        cap = limits.max_minutes
        new = min(wanted, cap) if cap is not None else wanted
        if new <= current:
            return f"runtime {current} min is the partition's limit already"
        return Escalation({"time": new}, f"runtime {current} -> {new} min")
    key = next((k for k in MEMORY_KEYS if k in params), None)
    if key is None:
        return "the job asked for no memory of its own (the partition's default applied)"
    current = int(str(params[key]).rstrip("M"))
    wanted = int(current * factor + 0.999)
    cap = limits.max_memory_mib
    if cap is not None and key == "mem_per_cpu":
        cap //= max(1, int(params.get("cpus_per_task", 1) or 1))
    new = min(wanted, cap) if cap is not None and key != "mem_per_gpu" else wanted
    if new <= current:
        return f"{key} {current} MiB is the nodes' memory already"
    return Escalation({key: f"{new}M"}, f"{key.replace('_', '-')} {current} -> {new} MiB")
