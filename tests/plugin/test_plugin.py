"""The plugin as Snakemake sees it: cheap to import, found, and dry-runnable without SLURM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_importing_the_plugin_is_cheap_and_touches_no_cluster_tool(tmp_path):
    """Snakemake imports every snakemake_executor_plugin_* package on every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    trap = tmp_path / "called"
    for tool in ("sacct", "squeue", "sbatch", "scontrol", "sinfo", "srun"):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho {tool} >> {trap}\n")
        (bin_dir / tool).chmod(0o755)
    code = (
        "import sys, time; t = time.perf_counter(); import snakemake_executor_plugin_submitit;"
        "print(time.perf_counter() - t); print('submitit' in sys.modules, 'torch' in sys.modules)"
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert float(out[0]) < 1.0, out
    assert out[1:] == ["False", "False"]  # neither submitit nor torch at import time
    assert not trap.exists()


def test_snakemake_finds_the_plugin_and_its_settings_validate(tmp_path):
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    plugin = ExecutorPluginRegistry().get_plugin("submitit")
    settings = plugin.settings_cls(gpu_partition="gpu", poll_interval=5)
    assert settings.gpu_request_style == "gres" and settings.node_fail_retries == 2
    # no --submitit-poll-interval: Snakemake's --seconds-between-status-checks paces the rounds
    assert plugin.settings_cls().poll_interval is None
    with pytest.raises(ValueError, match="--submitit-poll-interval must be a positive integer"):
        plugin.settings_cls(poll_interval=0)
    assert plugin.common_settings.non_local_exec
    assert not plugin.common_settings.pass_envvar_declarations_to_cmd


def test_snakemake_help_shows_the_plugin_settings():
    """argparse %-formats every help text: a stray % in a setting's help broke `--help`."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--help"], capture_output=True,
                          text=True, check=False, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "--submitit-poll-interval" in proc.stdout
    assert "--submitit-array-parallelism" in proc.stdout


def test_a_dry_run_with_the_executor_needs_no_cluster(tmp_path):
    """`snakemake -n --executor submitit` must work where no SLURM tool exists."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    env.pop("SLURM_CONF", None)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "all_paper_tables", "-n", "--executor", "submitit",
         "--jobs", "4", "--configfile", "tests/workflow/config.yaml"],
        check=False, cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train_bridge" in proc.stdout + proc.stderr
