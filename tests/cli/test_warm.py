"""`telepathy warm-start`: jobs forked from a warm server behave as cold ones (output, exit
codes, working directory, environment, signals), and the jobs it cannot serve run cold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import as_from_a_terminal

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

RESOLVE = "resolve-config --pair tiny --dataset synth_sentiment --seed 1"


def warm_start(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "telepathy", "warm-start", "--", *command],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_served_jobs_give_what_cold_ones_give_and_the_rest_run_cold(tmp_path):
    cold = subprocess.run(
        [sys.executable, "-m", "telepathy", *RESOLVE.split()],
        check=True,
        capture_output=True,
        text=True,
    )
    job = f"{sys.executable} -m telepathy"
    (tmp_path / "inner").mkdir()
    script = "\n".join(
        [
            "cd inner",  # each job's working directory is its own
            f"{job} {RESOLVE} > resolved.txt; echo $? > resolved.rc",
            f"{job} {RESOLVE} --set bridge_architecture=transformer 2> bad.err; echo $? > bad.rc",
            f"{job} resolve-config --pair tiny 2> usage.err; echo $? > usage.rc",
            # read at import by what the server preloaded: this one must start cold
            f"HF_HOME={tmp_path}/hf {job} {RESOLVE} > hf.txt 2> hf.err",
            f"{job} prepare-data --help > online.txt 2> online.err",  # may reach the hub
        ]
    )
    run = warm_start("bash", "-c", script, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    inner = tmp_path / "inner"
    assert (inner / "resolved.txt").read_text() == cold.stdout
    assert (inner / "resolved.rc").read_text().strip() == "0"
    assert (inner / "bad.rc").read_text().strip() == "1"
    assert "bridge_architecture must be one of" in (inner / "bad.err").read_text()
    assert (inner / "usage.rc").read_text().strip() == "2"
    assert "required: --dataset" in (inner / "usage.err").read_text()
    assert (inner / "hf.txt").read_text() == cold.stdout
    assert "HF_HOME differ from the server's" in (inner / "hf.err").read_text()
    assert "usage: telepathy prepare-data" in (inner / "online.txt").read_text()
    assert "`prepare-data` may reach the hub" in (inner / "online.err").read_text()
    assert "served 3 jobs, 2 ran cold" in run.stderr


def test_without_a_server_jobs_run_cold(tmp_path):
    env = {**os.environ, "TELEPATHY_WARM_SOCKET": str(tmp_path / "nothing.sock")}
    run = subprocess.run(
        [sys.executable, "-m", "telepathy", *RESOLVE.split()],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0 and '"pair": "tiny"' in run.stdout


def test_warm_start_needs_a_command(tmp_path):
    run = warm_start(cwd=tmp_path)
    assert run.returncode == 1 and "warm-start needs a command to run" in run.stderr


def _child_of(pid: int) -> int:
    """The first child process of `pid` (the warm-start's COMMAND: the job's client)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError(f"process {pid} started no command")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "client killed"])
def test_a_served_training_job_checkpoints_on_sigterm_or_when_its_client_dies(
    model_cache, tmp_path, how
):
    """SIGTERM to the client reaches the job (a training job checkpoints and exits 75, as a
    cold one does); a client killed outright leaves no job running unobserved."""
    train = (
        f"train --protocol corrected --pair tiny --dataset synth_sentiment --seed 1 "
        f"--threads 1 --no-progress --cache-dir {model_cache} --bridge {tmp_path}/bridge.pt "
        f"--checkpoint {tmp_path}/ckpt/state.pt --metrics {tmp_path}/metrics.jsonl "
        f"--result {tmp_path}/train.json --set steps=100000 --set eval_every=0"
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "telepathy",
            "warm-start",
            "--",
            sys.executable,
            "-m",
            "telepathy",
            *train.split(),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    client = _child_of(server.pid)
    metrics = tmp_path / "ckpt" / "state.pt.metrics.jsonl"  # the job's steps, as they happen
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail(f"no training steps within 120 s: {server.communicate()[1][-3000:]}")
        time.sleep(0.2)
    os.kill(client, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    _, stderr = server.communicate(timeout=120)
    assert "served 1 jobs, 0 ran cold" in stderr
    assert server.returncode == (75 if how == "sigterm" else 128 + signal.SIGKILL), stderr
    assert "received SIGTERM at step" in stderr and "checkpoint written to" in stderr


def test_the_command_gets_ctrl_c(tmp_path):
    """The server ignores SIGINT (COMMAND decides what Ctrl-C does), but COMMAND must not
    inherit that: an ignored signal stays ignored across exec."""
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    command = [sys.executable, "-c", probe]
    run = subprocess.run(
        as_from_a_terminal(["-m", "telepathy", "warm-start", "--", *command]),
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stderr


def test_a_broken_request_is_turned_away_and_the_server_serves_on(tmp_path):
    client = (
        "import os, socket\n"
        "conn = socket.socket(socket.AF_UNIX)\n"
        "conn.connect(os.environ['TELEPATHY_WARM_SOCKET'])\n"
        "socket.send_fds(conn, [b'not json\\n'], [0, 1, 2])\n"
        "print(conn.makefile('rb').readline().decode().strip())\n"
    )
    script = f'{sys.executable} -c "{client}" && {sys.executable} -m telepathy {RESOLVE}'
    run = warm_start("bash", "-c", script, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert '{"refused": "JSONDecodeError: Expecting value' in run.stdout
    assert '"pair": "tiny"' in run.stdout
    assert "served 1 jobs, 1 ran cold" in run.stderr
