"""Running the workflow from the tests: Snakemake in a subprocess on this repository's
Snakefile, its job counts, and the test configs with their fixture paths made absolute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "local"


def snakemake(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, warm: bool = False
) -> subprocess.CompletedProcess:
    """Snakemake on this repository's Snakefile, this venv first on PATH (the rules call
    `python -m telepathy`); `warm`: under `telepathy warm-start`, as `make demo` runs it."""
    env = {**(env or os.environ), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    warm_start = [sys.executable, "-m", "telepathy", "warm-start", "--"] if warm else []
    return subprocess.run(
        [*warm_start, sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} (empty when nothing is to be done)."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return counts
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def config_in(tmp_path: Path, source: Path) -> Path:
    """A test config with its fixture paths made absolute for a run in tmp_path."""
    config = yaml.safe_load(source.read_text())
    for files in config["local_data"].values():
        files["train"], files["eval"] = str(REPO / files["train"]), str(REPO / files["eval"])
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(config))
    return path
