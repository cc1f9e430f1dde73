"""Record where a result came from: code version, packages, machine, job and config digest."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

# Packages whose versions can change a number in a result file; missing ones are skipped.
_PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "numpy",
    "telepathy",
    "huggingface_hub",
    "safetensors",
    "accelerate",
    "gguf",
    "peft",
    "snakemake",
    "submitit",
)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_GIT_TIMEOUT_S = 10
_SHA256 = re.compile(r"[0-9a-f]{64}")


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_digest(cfg: dict[str, Any]) -> str:
    """Return the sha256 hex digest of `cfg` as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(cfg, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ids_digest(ids: Sequence[str]) -> str:
    """Return the sha256 hex digest of the example ids joined by newlines (order matters)."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str] | None:
    """Run git in `cwd`; None when git is missing, hangs or fails to start."""
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


def git_state(directory: Path = _PACKAGE_DIR) -> tuple[str | None, bool | None]:
    """Return (HEAD commit, dirty flag) of the checkout holding `directory`; None where unknown."""
    ignored = _git(["check-ignore", "-q", str(directory)], directory)
    # Exit 0 means the directory is git-ignored, e.g. site-packages of a venv inside some other
    # checkout; that repository's commit says nothing about this code.
    if ignored is None or ignored.returncode == 0:
        return None, None
    head = _git(["rev-parse", "HEAD"], directory)
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else None
    status = _git(["status", "--porcelain"], directory)
    dirty = bool(status.stdout.strip()) if status is not None and status.returncode == 0 else None
    return commit or None, dirty


def package_versions() -> dict[str, str]:
    """Return installed versions of the packages that can affect results."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "telepathy" not in versions:
        # Running from a source checkout without `pip install -e .`: use the declared version.
        declared = getattr(sys.modules.get("telepathy"), "__version__", None)
        if isinstance(declared, str):
            versions["telepathy"] = declared
    return versions


def _torch_versions() -> tuple[str, str | None]:
    """Return (torch version, CUDA version torch was built with or None)."""
    try:
        import torch  # imported lazily: validating results must not require loading torch
    except ImportError:
        return "not installed", None
    return str(torch.__version__), torch.version.cuda


def slurm_job_id(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the SLURM job id, as `<array job>_<task>` for array tasks; None outside SLURM."""
    env = os.environ if environ is None else environ
    array_job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        # The plain SLURM_JOB_ID of an array task is an opaque number that sacct users rarely
        # recognise; the array form matches squeue and the log file names.
        return f"{array_job}_{task}"
    return env.get("SLURM_JOB_ID") or None


def _iso(name: str, moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name}={moment.isoformat()} has no timezone; pass an aware datetime such as "
            "telepathy.results.provenance.utc_now()"
        )
    return moment.isoformat()


def collect_provenance(
    *,
    config_sha256: str,
    started_at: datetime,
    ended_at: datetime,
    device: str,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the `provenance` block of a result file (schema v1); `data` is the data
    snapshot's own provenance (which dataset, from where, at which commit)."""
    if not isinstance(config_sha256, str) or not _SHA256.fullmatch(config_sha256):
        raise ValueError(
            f"config_sha256={config_sha256!r} is not 64 lowercase hex characters; "
            "compute it with config_digest(cfg)"
        )
    if not device:
        raise ValueError(f"device={device!r}; expected a device name such as 'cuda:0' or 'cpu'")
    commit, dirty = git_state()
    torch_version, cuda_version = _torch_versions()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "python": platform.python_version(),
        "torch": torch_version,
        "cuda": cuda_version,
        "device": device,
        "hostname": socket.gethostname(),
        "slurm_job_id": slurm_job_id(),
        "started_at": _iso("started_at", started_at),
        "ended_at": _iso("ended_at", ended_at),
        "config_sha256": config_sha256,
        "data": dict(data),
    }
