"""`telepathy warm-start -- COMMAND`: run COMMAND (the local workflow) beside a warm job server.

A local job spends ~4 s before its work: Python, torch's import (1.0-1.3 s), transformers' (0.4 s,
then 0.6-0.9 s for its model and tokenizer code), pandas and matplotlib for the tables. Under
`warm-start`, each `python -m telepathy CMD` that COMMAND runs connects to a server that imported
all of that once, and runs in a process forked from it, with the job's arguments, working
directory, environment and standard streams (passed as file descriptors), in a process group of
its own. The client forwards its signals to the job (SIGTERM makes training checkpoint, as when
cold) and exits with the job's code; if the client dies, the job gets SIGTERM.

A job runs cold in its own process instead where its Python or package is not the server's, its
command may reach the hub (the server imported huggingface_hub offline), a variable that the
preloaded libraries read at import (`HF_*`, `TORCH*`, `PYTHON*`, ...) differs from the server's,
or it runs inside SLURM (`SLURM_JOB_ID`: it would escape its allocation and accounting). Linux only
(fork after torch's import is safe while no torch op has run; the server runs none). Benchmark
files keep the jobs' wall times; their CPU and memory columns measure the client. Code edited
while the server runs is not seen by the jobs it serves."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telepathy.cli.args import Command

SOCKET_ENV = "TELEPATHY_WARM_SOCKET"
# read at import by what the server preloads: a job that sets one of these differently runs cold
IMPORT_TIME_ENV_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH")
IMPORT_TIME_ENV_PREFIXES += ("PYTORCH_", "CUDA_", "PYTHON", "LD_", "MPLBACKEND")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
PRELOAD_MODULES = ("torch", "transformers", "safetensors.torch", "tqdm")
# transformers imports its model and tokenizer classes on first attribute access
PRELOAD_TRANSFORMERS = ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer")
PRELOAD_TRANSFORMERS += ("PreTrainedTokenizerFast", "LlamaForCausalLM", "MistralForCausalLM")
PRELOAD_TRANSFORMERS += ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration")


# ----------------------------------------------------------------------------- the client


def run_through_server(argv: list[str]) -> int | None:
    """Run `telepathy argv` in a process forked by the warm server named in the environment:
    its exit code, or None where there is no server or it turned the job away (run it cold)."""
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get("SLURM_JOB_ID"):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    with conn, conn.makefile("rb") as replies:
        message = json.dumps(_request(argv)).encode() + b"\n"
        with contextlib.suppress(OSError):  # a refusal may close the socket before the rest
            sent = socket.send_fds(conn, [message], [0, 1, 2])
            if sent < len(message):  # a large environment may not go in one sendmsg
                conn.sendall(message[sent:])
        reply = json.loads(replies.readline() or b"{}")
        if "pid" not in reply:
            reason = reply.get("refused", "the server closed the connection")
            print(f"telepathy: warm server: {reason}; starting cold", file=sys.stderr)
            return None
        job = reply["pid"]
        for number in FORWARDED_SIGNALS:
            signal.signal(number, lambda signum, _frame: _signal_job(job, signum))
        line = replies.readline()
    if not line:  # the server is gone: the job has no one to report to
        _signal_job(job, signal.SIGTERM)
        print(f"telepathy: the warm server exited while job {job} ran", file=sys.stderr)
        return 1
    status = json.loads(line)
    return status["exit"] if "exit" in status else 128 + status["signal"]


PACKAGE = Path(__file__).resolve().parents[1]  # the telepathy package the jobs would import


def _request(argv: list[str]) -> dict[str, Any]:
    return {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "executable": sys.executable,
        "package": str(PACKAGE),
        "path0": sys.path[0] if sys.path else "",
    }


def _signal_job(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


# ----------------------------------------------------------------------------- the server


@dataclass
class _Server:
    """The server's state: its socket, COMMAND's pid, each running job's connection by pid."""

    listener: socket.socket
    command_pid: int
    wakeup: tuple[int, int]  # the pipe that signal.set_wakeup_fd writes to
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    jobs: dict[int, socket.socket | None] = field(default_factory=dict)
    # the environment the preloaded libraries were imported under, and what their imports set
    import_env: dict[str, str] = field(default_factory=dict)
    set_by_imports: dict[str, str] = field(default_factory=dict)
    command_status: int | None = None
    served: int = 0
    refused: int = 0


def serve(command: list[str]) -> int:
    """Preload, start COMMAND with the server's socket in its environment, and serve its jobs
    until it exits; its exit code. A preload that fails stops here, before COMMAND starts."""
    command_env = dict(os.environ)  # COMMAND's own: not the preload's offline flags
    folder = Path(tempfile.mkdtemp(prefix="telepathy-warm-"))
    path = folder / "jobs.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    wakeup = os.pipe()
    os.set_blocking(wakeup[1], False)
    server = _Server(listener, 0, wakeup)
    try:
        started = time.perf_counter()
        _preload(server)
        _say(f"jobs fork from a server that preloaded in {time.perf_counter() - started:.1f} s")
        signal.set_wakeup_fd(wakeup[1])
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop: a job or COMMAND ended
        child = subprocess.Popen(command, env={**command_env, SOCKET_ENV: str(path)})
        server.command_pid = child.pid
        # Ctrl-C reaches COMMAND (our process group); it decides, and we serve until it exits.
        # Ignored only after COMMAND started: an ignored signal stays ignored across exec.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, _frame: _signal_job(child.pid, signum))
        server.selector.register(listener, selectors.EVENT_READ, "listener")
        server.selector.register(wakeup[0], selectors.EVENT_READ, "wakeup")
        _event_loop(server)
    finally:
        listener.close()  # from here on, jobs start cold
        path.unlink(missing_ok=True)
        folder.rmdir()
        _stop_jobs(server)
        if server.command_pid and server.command_status is None:  # the loop failed
            server.command_status = child.wait()  # COMMAND goes on, its jobs cold
        signal.set_wakeup_fd(-1)
        for fd in server.wakeup:
            os.close(fd)
    _say(f"served {server.served} jobs, {server.refused} ran cold")
    return server.command_status if server.command_status is not None else 1


def _say(text: str) -> None:
    print(f"telepathy warm-start: {text}", file=sys.stderr)


def _preload(server: _Server) -> None:
    """Import what the jobs import, once: the served commands are offline ones, and
    huggingface_hub reads the offline flags at import."""
    import pkgutil

    from telepathy.cli import OFFLINE_ENV

    os.environ.update(OFFLINE_ENV)
    server.import_env = dict(os.environ)
    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    transformers = sys.modules["transformers"]
    for name in PRELOAD_TRANSFORMERS:
        with contextlib.suppress(AttributeError, ImportError):  # not in every version: skip
            getattr(transformers, name)
    for module in pkgutil.walk_packages([str(PACKAGE)], "telepathy."):
        if module.name != "telepathy.__main__":
            importlib.import_module(module.name)
    server.set_by_imports = {
        key: value for key, value in os.environ.items() if server.import_env.get(key) != value
    }  # torch's inductor sets its cache folder, as it would in a cold job


def _event_loop(server: _Server) -> None:
    while server.command_status is None:
        for key, _events in server.selector.select():
            if key.data == "listener":
                _accept(server)
            elif key.data == "wakeup":
                os.read(server.wakeup[0], 512)
                _reap(server)
            else:  # a job's client hung up (it died): the job must not run on unobserved
                server.selector.unregister(key.fileobj)
                key.fileobj.close()
                server.jobs[key.data] = None
                _signal_job(key.data, signal.SIGTERM)


def _accept(server: _Server) -> None:
    conn, _ = server.listener.accept()
    conn.settimeout(10)
    fds: list[int] = []
    try:
        message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
        while message and not message.endswith(b"\n"):
            chunk = conn.recv(1 << 20)
            message += chunk if chunk else b"\n"  # EOF: json.loads names what came
        request = json.loads(message)
        reason = _refusal(request, server.import_env) if len(fds) == 3 else "no standard streams"
        pid = None if reason else _fork_job(request, fds, server)
    except (OSError, ValueError) as err:  # a broken request, or no fork: the job runs cold
        reason, pid = f"{type(err).__name__}: {err}", None
    finally:
        for fd in fds:
            os.close(fd)
    if pid is None:
        server.refused += 1
        with contextlib.suppress(OSError):
            _send(conn, {"refused": reason})
        conn.close()
        return
    server.served += 1
    server.jobs[pid] = conn
    _send(conn, {"pid": pid})
    conn.setblocking(True)
    server.selector.register(conn, selectors.EVENT_READ, pid)


def _fork_job(request: dict[str, Any], fds: list[int], server: _Server) -> int:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        _run_job(request, fds, server)  # never returns
    return pid


def _refusal(request: dict[str, Any], import_env: dict[str, str]) -> str | None:
    """Why the server cannot run this job as a cold start would, or None."""
    from telepathy.cli import COMMANDS, OFFLINE_ENV

    if request.get("executable") != sys.executable or request.get("package") != str(PACKAGE):
        return f"the job's Python ({request.get('executable')}) is not the server's"
    command = next((arg for arg in request["argv"] if arg in COMMANDS), None)
    if command is None:
        return "no command given"
    if COMMANDS[command].online:
        return f"`{command}` may reach the hub"
    env = request["env"]
    differ = sorted(
        key
        for key in set(env) | set(import_env)
        if key.startswith(IMPORT_TIME_ENV_PREFIXES)
        and key not in OFFLINE_ENV
        and env.get(key) != import_env.get(key)
    )
    if differ:
        return f"{', '.join(differ)} differ from the server's and are read at import"
    return None


def _run_job(request: dict[str, Any], fds: list[int], server: _Server) -> None:
    """In the forked child: become the job a cold `python -m telepathy` would have been."""
    code = 1
    try:
        os.setpgid(0, 0)  # the terminal's Ctrl-C reaches the client, which forwards it once
        for number in (*FORWARDED_SIGNALS, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        server.selector.close()
        for closable in (server.listener, *filter(None, server.jobs.values())):
            closable.close()
        for fd in server.wakeup:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**server.set_by_imports, **request["env"]})
        os.environ.pop(SOCKET_ENV, None)
        sys.argv = [sys.argv[0], *request["argv"]]
        if sys.path and request["path0"]:
            sys.path[0] = request["path0"]
        _reseed()
        atexit._clear()  # the server's exit handlers are not the job's
        code = _main(request["argv"])
        atexit._run_exitfuncs()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _main(argv: list[str]) -> int:
    from telepathy.cli import main

    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's usage errors and --help
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


def _reseed() -> None:
    """Fresh seeds for Python's and NumPy's global generators, as a cold process draws (torch's
    starts from a fixed seed, untouched by the server)."""
    import random

    random.seed()
    if (numpy := sys.modules.get("numpy")) is not None:
        numpy.random.seed()


def _reap(server: _Server) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == server.command_pid:
            server.command_status = os.waitstatus_to_exitcode(status)
            if server.command_status < 0:
                server.command_status = 128 - server.command_status
            continue
        conn = server.jobs.pop(pid, None)
        if conn is not None:
            server.selector.unregister(conn)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                _send(conn, {"exit": code} if code >= 0 else {"signal": -code})
            conn.close()


def _stop_jobs(server: _Server, grace_s: float = 30.0) -> None:
    """COMMAND has ended (or the server failed): jobs still running get SIGTERM, then SIGKILL."""
    for pid in server.jobs:
        _signal_job(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while server.jobs and time.monotonic() < deadline:
        time.sleep(0.1)
        _reap(server)
    for pid in list(server.jobs):
        _signal_job(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


# ----------------------------------------------------------------------------- the command


def add_warm_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="COMMAND", nargs=argparse.REMAINDER, help="after --")


def run_warm_start(args: argparse.Namespace) -> int:
    command = args.run[1:] if args.run[:1] == ["--"] else args.run
    if not command:
        raise ValueError(
            "warm-start needs a command to run, e.g. `telepathy warm-start -- "
            "snakemake all_paper_tables --profile workflow/profiles/local`"
        )
    if not sys.platform.startswith("linux"):
        _say(f"{sys.platform} is not Linux; every job starts cold")
        return subprocess.call(command)
    return serve(command)


COMMANDS = (
    Command(
        "warm-start",
        "run a command (the local workflow) whose `python -m telepathy` jobs fork from a warm "
        "server that has imported torch and transformers once",
        add_warm_start,
        run_warm_start,
        online=True,  # the command it runs may reach the hub; the jobs it serves may not
    ),
)
