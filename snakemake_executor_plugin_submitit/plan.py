"""GPU-time planning from a Snakemake dry run: jobs and GPU-hours requested per rule.

A dry run already prints every pending job with its resources (`resources: runtime=30, gpu=1,
gpu_model=h100, ...`); the executor plugin is never built in a dry run, so the plan reads that
text. What a cluster admin needs before approving a run: how many jobs, how many GPU-hours, on
which partition and GPU model.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

_RULE = re.compile(r"^(local)?rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_RESOURCE = re.compile(r"(\w+)=([^,]*)(?:,\s*|$)")


def parse_dry_run(text: str) -> list[dict[str, Any]]:
    """Every job block of `snakemake -n` output: rule, threads, wildcards, resources and
    outputs (which tell `telepathy status` the jobs already submitted)."""
    jobs: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        rule = _RULE.match(line)
        if rule:
            current = {"rule": rule.group(2), "local": bool(rule.group(1)), "threads": 1,
                       "resources": {}, "wildcards": {}}  # fmt: skip
            jobs.append(current)
            continue
        field = _FIELD.match(line) if current is not None else None
        if field is None:
            if line and not line.startswith(" "):
                current = None  # a block ends at the next unindented line
            continue
        key, value = field.groups()
        if key == "resources":
            current["resources"] = {k: v.strip() for k, v in _RESOURCE.findall(value)}
        elif key == "wildcards":
            current["wildcards"] = {k: v.strip() for k, v in _RESOURCE.findall(value)}
        elif key == "threads":
            current["threads"] = int(value)
        elif key == "output":
            current["outputs"] = [path.strip() for path in value.split(",") if path.strip()]
    return jobs


def _number(value: str | None, default: float = 0.0) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def summarise(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Job counts, runtime and GPU-hours per rule and per (partition, GPU model)."""
    per_rule: dict[str, dict[str, Any]] = {}
    per_place: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"jobs": 0, "gpu_hours": 0.0}
    )
    for job in jobs:
        res = job["resources"]
        runtime_h = _number(res.get("runtime")) / 60  # Snakemake's runtime is in minutes
        gpus = _number(res.get("gpu"))
        partition = res.get("slurm_partition", "(default)")
        gpu_model = res.get("gpu_model", "-") if gpus else "-"
        row = per_rule.setdefault(
            job["rule"],
            {
                "rule": job["rule"],
                "jobs": 0,
                "runtime_hours": 0.0,
                "gpu_hours": 0.0,
                "partitions": set(),
                "gpu_models": set(),
            },
        )
        row["jobs"] += 1
        row["runtime_hours"] += runtime_h
        row["gpu_hours"] += runtime_h * gpus
        row["partitions"].add(partition)
        row["gpu_models"].add(gpu_model)
        place = per_place[(partition, gpu_model)]
        place["jobs"] += 1
        place["gpu_hours"] += runtime_h * gpus
    rules = []
    for row in per_rule.values():
        rules.append(
            {
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()},
                "partitions": sorted(row["partitions"]),
                "gpu_models": sorted(row["gpu_models"]),
            }
        )
    return {
        "jobs": len(jobs),
        "gpu_hours": round(sum(r["gpu_hours"] for r in rules), 3),
        "rules": sorted(rules, key=lambda r: (-r["gpu_hours"], r["rule"])),
        "by_partition_and_gpu": [
            {
                "partition": p,
                "gpu_model": g,
                "jobs": v["jobs"],
                "gpu_hours": round(v["gpu_hours"], 3),
            }
            for (p, g), v in sorted(per_place.items())
        ],
    }


def plan_from_dry_run(text: str) -> dict[str, Any]:
    """Parse and summarise; an output with no jobs means nothing is pending."""
    return summarise(parse_dry_run(text))


def format_plan(plan: dict[str, Any]) -> str:
    """A fixed-width table for the terminal."""
    width = max([len("total"), *(len(row["rule"]) for row in plan["rules"])]) + 2
    lines = [f"{'rule':<{width}}{'jobs':>6}{'hours':>10}{'GPU-h':>10}  partition / GPU model"]
    for row in plan["rules"]:
        lines.append(
            f"{row['rule']:<{width}}{row['jobs']:>6}{row['runtime_hours']:>10.2f}"
            f"{row['gpu_hours']:>10.2f}"
            f"  {','.join(row['partitions'])} / {','.join(row['gpu_models'])}"
        )
    lines.append(f"{'total':<{width}}{plan['jobs']:>6}{'':>10}{plan['gpu_hours']:>10.2f}")
    for place in plan["by_partition_and_gpu"]:
        lines.append(
            f"  partition {place['partition']}, GPU {place['gpu_model']}: {place['jobs']} jobs, "
            f"{place['gpu_hours']:.2f} GPU-hours requested"
        )
    return "\n".join(lines)


def run_dry_run(snakemake_args: list[str], cwd: Path | None = None) -> str:
    """Run `snakemake -n ARGS` (in `cwd`) and return its output (job blocks go to stdout or
    stderr)."""
    args = [a for a in snakemake_args if a != "--"]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise RuntimeError(f"snakemake -n {' '.join(args)} failed:\n{output[-3000:]}")
    return proc.stdout + "\n" + proc.stderr
