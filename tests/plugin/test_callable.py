"""The checkpointable callable each SLURM job runs: command, environment, signals."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from snakemake_executor_plugin_submitit.callable import JobCommandFailed, SnakemakeJobCommand


def test_callable_runs_the_command_in_the_workdir_with_the_given_environment(tmp_path):
    command = SnakemakeJobCommand('echo "$TELEPATHY_X" > out.txt', {"TELEPATHY_X": "42"},
                                  str(tmp_path), 0)  # fmt: skip
    assert command()["returncode"] == 0
    assert (tmp_path / "out.txt").read_text() == "42\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # its SIGTERM handler is undone
    with pytest.raises(JobCommandFailed, match="exited with code 3"):
        SnakemakeJobCommand("exit 3", {}, str(tmp_path), 0)()


def test_callable_pickles_without_its_process_and_checkpoint_returns_a_fresh_copy(tmp_path):
    command = SnakemakeJobCommand("true", {}, str(tmp_path), 5)
    command()
    clone = pickle.loads(pickle.dumps(command))
    assert clone.command == "true" and clone._process is None
    delayed = command.checkpoint()
    assert delayed.function is not command and delayed.function.command == "true"


CHILD = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    got = []
    signal.signal(signal.SIGUSR2, lambda s, f: got.append(s))
    Path(sys.argv[1]).write_text("ready")
    while not got:
        time.sleep(0.05)
    Path(sys.argv[1]).write_text("checkpointed")
    sys.exit(75)
    """
)


def test_checkpoint_passes_usr2_to_the_command_waits_for_it_and_the_shell_survives_it(tmp_path):
    """What happens on the node before a requeue: the training process (which handles USR2)
    checkpoints and exits; bash around it ignores USR2 instead of dying at once."""
    (tmp_path / "child.py").write_text(CHILD)
    marker = tmp_path / "marker"
    command = SnakemakeJobCommand(
        f"{sys.executable} child.py {marker}; echo after > after.txt", {}, str(tmp_path), 30
    )
    outcome = {}

    def run():
        try:
            command()
        except JobCommandFailed as error:  # the shell exits 0 after the child: not expected
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text() == "ready"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    delayed = command.checkpoint()
    assert marker.read_text() == "checkpointed"
    assert time.monotonic() - started < 10  # returned when the child exited, not at the grace
    thread.join(timeout=30)
    assert (tmp_path / "after.txt").exists()  # bash ignored USR2 and carried on
    assert delayed.function.command == command.command


def test_non_checkpointable_commands_are_stopped_with_sigterm_at_once(tmp_path):
    command = SnakemakeJobCommand("sleep 60", {}, str(tmp_path), 0)

    def run():
        with pytest.raises(JobCommandFailed):
            command()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while command._process is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    command.checkpoint()
    assert time.monotonic() - started < 10
    assert command._process.returncode == -signal.SIGTERM
    thread.join(timeout=10)


TERM_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(75))  # like `telepathy train`
    Path(sys.argv[1]).write_text(str(os.getpid()))
    time.sleep(60)
    """
)
RUN_CALLABLE = textwrap.dedent(
    """
    import sys
    from snakemake_executor_plugin_submitit.callable import SnakemakeJobCommand
    SnakemakeJobCommand(sys.argv[1], {}, sys.argv[2], 0)()
    print("RESULT WRITTEN")
    """
)


def test_after_sigterm_no_result_is_written_until_slurm_kills_the_process(tmp_path):
    """scancel / scontrol requeue: the command stops, and the callable neither returns nor
    raises (either would leave a result file the driver reads as the job's end)."""
    (tmp_path / "child.py").write_text(TERM_CHILD)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_CALLABLE, f"{sys.executable} child.py {marker}", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    child = int(marker.read_text())
    for group in (proc.pid, os.getpgid(child)):  # SLURM signals every process of the step
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2)
    assert proc.poll() is None  # the child has exited 75, yet no result and no error
    proc.kill()
    out, _ = proc.communicate(timeout=10)
    assert "RESULT WRITTEN" not in out and "SIGTERM" in out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (OSError, IndexError):
        return ""
