"""Jobs run on the submitting host instead of a compute node: the rules that need the internet
(`resources: internet=1`) when the compute nodes have none (--submitit-offline-compute-nodes).

Each runs as a compute node would run it (same working directory, same command), in its own
session so that a Ctrl-C reaches it only through the executor's cancel, with its output in a
log under the plugin's folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

ID_PREFIX = "here-"


class HostJobs:
    """The processes started on this host, by job id (`here-<pid>`)."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = folder / "here"
        self.run_id = run_id
        self.processes: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        self.lock = threading.Lock()
        self.started = 0

    def start(self, name: str, command: str, env: dict[str, str]) -> tuple[str, str]:
        """Start one job's shell command; its id and log path."""
        with self.lock:
            number, self.started = self.started, self.started + 1
        log = self.folder / f"{name}-{self.run_id}-{number}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            process = subprocess.Popen(
                ["/bin/bash", "-c", command],
                cwd=os.getcwd(),
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches it through cancel_jobs only
            )
        job_id = f"{ID_PREFIX}{process.pid}"
        with self.lock:
            self.processes[job_id] = (process, str(log))
        return job_id, str(log)

    def owns(self, job_id: str | None) -> bool:
        with self.lock:
            return job_id in self.processes

    def poll(self, job_id: str) -> tuple[int | None, str]:
        """The job's exit code (None while it runs) and its log; a finished job is forgotten."""
        with self.lock:
            process, log = self.processes[job_id]
        code = process.poll()
        if code is not None:
            with self.lock:
                self.processes.pop(job_id, None)
        return code, log

    def terminate_all(self) -> None:
        """SIGTERM to every job still running here (its whole process group)."""
        with self.lock:
            running = [process for process, _ in self.processes.values()]
        for process in running:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
