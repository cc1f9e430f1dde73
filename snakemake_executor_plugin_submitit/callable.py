"""What runs on the node: the Snakemake job command, as a checkpointable submitit callable.

submitit's `CommandFunction` cannot requeue. This callable can: when SLURM sends the
pre-timeout/preemption signal (USR2), submitit calls `checkpoint()`, which passes the signal
on to the command (`telepathy train` saves a checkpoint and exits 75), waits for it to stop,
and hands submitit a fresh copy of itself; submitit then runs `scontrol requeue` and the same
SLURM job id starts again, running the same command, which resumes from the checkpoint.

Imported on the compute node by unpickling, so it imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any


class JobCommandFailed(RuntimeError):
    """The Snakemake job command exited non-zero (its log has the details)."""


class SnakemakeJobCommand:
    """Run one Snakemake job command in its own process group; stop it politely on demand.

    `stop_grace_s` is how long checkpoint() waits for the command after passing on USR2:
    long enough to write a checkpoint for training rules, 0 for rules that cannot resume
    (they are then stopped with SIGTERM at once and start over if SLURM requeues them).
    """

    def __init__(
        self, command: str, env: dict[str, str], workdir: str, stop_grace_s: float
    ) -> None:
        self.command = command
        self.env = env
        self.workdir = workdir
        self.stop_grace_s = stop_grace_s
        self._process: subprocess.Popen[bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_process"] = None  # a live process handle is neither picklable nor meaningful
        state.pop("_terminated", None)
        state.pop("_stopped_at_signal", None)
        return state

    def __call__(self) -> dict[str, Any]:
        started = time.time()
        # SIGTERM means SLURM is ending this run: scancel, `scontrol requeue`, a time limit or
        # preemption without a user signal. The command gets it too (and training writes its
        # checkpoint); this process must then write no result, or the driver would read a
        # failure for a job that SLURM is about to requeue. So: note it, outlive the command,
        # and wait for SLURM's SIGKILL. (This replaces submitit's handler, which only logs.)
        self._terminated = False
        self._stopped_at_signal = False  # set by checkpoint(): the pre-timeout signal came
        main_thread = threading.current_thread() is threading.main_thread()  # as under submitit
        previous = signal.signal(signal.SIGTERM, self._on_sigterm) if main_thread else None
        try:
            return self._run(started)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, started: float) -> dict[str, Any]:
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        print(f"[submitit-plugin] running (SLURM restart {restarts}): {self.command}", flush=True)
        self._process = subprocess.Popen(
            ["/bin/bash", "-c", self.command],
            cwd=self.workdir,
            env={**os.environ, **self.env},
            # Own process group, so checkpoint() can signal the whole command tree; USR2 is
            # ignored by Snakemake and the shell (inherited), while `telepathy train` installs
            # its own handler (a handler replaces an inherited "ignore").
            start_new_session=True,
            preexec_fn=_ignore_usr2,  # noqa: PLW1509 - only sets a signal disposition
        )
        # Poll rather than wait(): wait() would hold Popen's internal lock while blocked, and
        # checkpoint() runs as a signal handler in this same thread and must reap the process.
        while (returncode := self._process.poll()) is None:
            time.sleep(0.5)
        if self._terminated:
            _await_sigkill()
        if returncode != 0 and self._stopped_at_signal:
            raise JobCommandFailed(  # job_results.result_error reads this as a TIMEOUT
                f"Snakemake job command stopped at SLURM's pre-timeout signal after "
                f"{time.time() - started:.0f} s (SLURM restart {restarts})"
            )
        if returncode != 0:
            raise JobCommandFailed(
                f"Snakemake job command exited with code {returncode} after "
                f"{time.time() - started:.0f} s (SLURM restart {restarts})"
            )
        return {"returncode": 0, "elapsed_s": time.time() - started, "slurm_restarts": restarts}

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._terminated = True
        print("[submitit-plugin] SIGTERM: SLURM is ending this run; writing no result", flush=True)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on USR2: stop the command (after it checkpoints), requeue a copy."""
        from submitit.helpers import DelayedSubmission

        self._stopped_at_signal = True
        self._stop()
        return DelayedSubmission(
            SnakemakeJobCommand(self.command, self.env, self.workdir, self.stop_grace_s)
        )

    def _stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        group = process.pid  # start_new_session made it the group leader
        steps = [(signal.SIGUSR2, self.stop_grace_s), (signal.SIGTERM, 20.0), (signal.SIGKILL, 5)]
        for sig, wait_s in steps:
            if wait_s <= 0:
                continue
            print(f"[submitit-plugin] sending {sig.name} to the job command", flush=True)
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait_s)
                print(f"[submitit-plugin] job command stopped: exit {process.returncode}")
                sys.stdout.flush()
                return
            except subprocess.TimeoutExpired:
                continue


def _await_sigkill(limit_s: float = 600.0) -> None:
    """Sleep until SLURM kills us (KillWait after SIGTERM); a stray SIGTERM from someone
    else ends in an error after limit_s rather than a hang."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
    raise JobCommandFailed(f"got SIGTERM but no SIGKILL followed within {limit_s:.0f} s")


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
