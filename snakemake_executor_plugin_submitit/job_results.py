"""What a finished job left behind, read back for the driver: submitit's result file, and the
message a failure is reported with (the job's own error and the tail of its log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LOG_TAIL_LINES = 15


def read_result(folder: Path, slurm_id: str) -> tuple[str, Any] | None:
    """submitit's result file: ("success", value) or ("error", traceback); None if absent."""
    path = folder / f"{slurm_id}_0_result.pkl"
    if not path.exists():
        return None
    from submitit.core.utils import pickle_load

    try:
        return pickle_load(path)
    except Exception:  # being written right now (submitit renames into place, but NFS...)
        return None


def result_error(traceback: str, slurm_id: str, rule: str, log: str) -> str:
    """The message for a job whose command failed: a time limit it could not requeue past
    (and the setting to raise), or the traceback's last line; with the log's tail."""
    text = str(traceback)
    if "Job not requeued because" in text:
        reason = text.split("Job not requeued because:")[-1].strip().splitlines()[0]
        return (
            f"TIMEOUT: slurm job {slurm_id} reached its time limit and was not requeued "
            f"({reason}): raise `runtime` for rule {rule} in slurm/config.yaml "
            f"(set-resources); log: {log}" + log_tail(log)
        )
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [text]
    return f"FAILED: slurm job {slurm_id}: {last[0].strip()}; log: {log}" + log_tail(log)


def log_tail(log: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a job's log, headed, for an error message ('' if unreadable)."""
    try:
        tail = Path(log).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n--- last lines of the job log ---\n" + "\n".join(tail)
