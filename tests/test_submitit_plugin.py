"""The executor plugin's pure parts: resources -> sbatch flags, sacct parsing, state verdicts,
the checkpointable callable, the submission registry, and what importing it costs."""

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
from snakemake_executor_plugin_submitit.params import (
    ResourceError,
    SiteDefaults,
    parse_slurm_extra,
    slurm_parameters,
)
from snakemake_executor_plugin_submitit.registry import Submission, SubmissionRegistry, job_key
from snakemake_executor_plugin_submitit.states import (
    JobState,
    Outcome,
    classify,
    expand_job_id,
    parse_sacct_status,
    parse_squeue_status,
)

SITE = SiteDefaults(gpu_partition="gpu", cpu_partition="cpu", account="proj1")


def params(resources, threads=1, site=SITE, requeue=False):
    return slurm_parameters("train_bridge", resources, threads, site, job_name="n", requeue=requeue)


# ---------------------------------------------------------------------------- resources


def test_gpu_rule_gets_gres_with_model_partition_time_memory_and_cpus():
    p = params({"gpu": 1, "gpu_model": "h100", "runtime": 45, "mem_mb": 64000}, threads=8)
    assert p["gres"] == "gpu:h100:1"
    assert p["partition"] == "gpu" and p["account"] == "proj1"
    assert p["time"] == 45 and p["cpus_per_task"] == 8
    assert p["mem"] == "61036M"  # 64000 MB in MiB, SLURM's unit
    assert "mem_per_cpu" not in p and "mem_per_gpu" not in p
    assert p["job_name"] == "n" and p["stderr_to_stdout"] is True


def test_cpu_rule_goes_to_the_cpu_partition_without_gres():
    p = params({"runtime": 10, "mem_mib": 2000})
    assert p["partition"] == "cpu" and "gres" not in p and p["mem"] == "2000M"


def test_memory_is_set_exactly_once_and_per_cpu_or_per_gpu_wins_over_the_default_mem_mb():
    # Snakemake's remote defaults always add mem_mb; an explicit per-cpu request must win.
    p = params({"runtime": 10, "mem_mb": 8000, "mem_mb_per_cpu": 3000})
    assert p["mem_per_cpu"] == "3000M" and "mem" not in p
    p = params({"runtime": 10, "mem_mb": 8000, "mem_mb_per_gpu": 40000, "gpu": 1})
    assert p["mem_per_gpu"] == "40000M" and "mem" not in p
    with pytest.raises(ResourceError, match="both mem_mb_per_cpu and mem_mb_per_gpu"):
        params({"runtime": 10, "mem_mb_per_cpu": 1, "mem_mb_per_gpu": 1})


def test_per_rule_partition_account_and_qos_override_the_site_defaults():
    p = params({"runtime": 5, "gpu": 2, "slurm_partition": "h100-long", "slurm_account": "x",
                "qos": "high"})  # fmt: skip
    assert (p["partition"], p["account"], p["qos"], p["gres"]) == (
        "h100-long",
        "x",
        "high",
        "gpu:2",
    )


def test_no_site_values_means_no_flags_rather_than_guesses():
    p = params({"runtime": 5}, site=SiteDefaults())
    for key in ("partition", "account", "qos", "wckey", "mem", "gres"):
        assert p.get(key) is None, key


def test_gpus_per_node_style_and_explicit_gres():
    style = SiteDefaults(gpu_request_style="gpus-per-node")
    p = params({"runtime": 5, "gpu": 2, "gpu_model": "h100"}, site=style)
    assert p["gpus_per_node"] == 2 and p["constraint"] == "h100" and "gres" not in p
    assert params({"runtime": 5, "gres": "gpu:a100:4"})["gres"] == "gpu:a100:4"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpu": 1}, "no runtime"),
        ({"runtime": 5, "gres": "'gpu:1'"}, "not of the form"),
        ({"runtime": 5, "gres": "gpu:1", "gpu": 1}, "both gres"),
        ({"runtime": 5, "gpu_model": "h100"}, "gpu is 0"),
        ({"runtime": 5, "gpu": "two"}, "gpu='two' is not an integer"),
        ({"runtime": 5, "slurm_partition": "gpu; rm -rf"}, "not a valid SLURM name"),
        ({"runtime": 1, "slurm_signal_delay_s": 90}, "not shorter than runtime"),
        ({"runtime": 5, "slurm_extra": "--mem=4G"}, "sets --mem"),
        ({"runtime": 5, "slurm_extra": "exclusive"}, "not a long option"),
    ],
)
def test_bad_resources_fail_naming_the_rule_and_the_value(resources, message):
    with pytest.raises(ResourceError, match=message) as error:
        params(resources)
    assert "train_bridge" in str(error.value)


def test_escape_hatch_passes_other_flags_and_requeue_follows_checkpointability():
    p = params({"runtime": 5, "slurm_extra": "--exclusive --reservation=maint"}, requeue=True)
    assert p["additional_parameters"] == {
        "exclusive": True,
        "reservation": "maint",
        "requeue": True,
    }
    p = params({"runtime": 5})
    assert p["additional_parameters"] == {"no_requeue": True}
    assert parse_slurm_extra("", "r") == {}


def test_parameters_are_accepted_by_submitits_sbatch_writer(tmp_path):
    """The dict must be valid for submitit and produce the flags we mean, each once."""
    from submitit.slurm.slurm import _make_sbatch_string

    p = params({"gpu": 1, "gpu_model": "h100", "runtime": 30, "mem_mb": 1000}, requeue=True)
    text = _make_sbatch_string(command="true", folder=tmp_path, **p)
    flags = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:h100:1" in flags and "#SBATCH --time=30" in flags
    assert "#SBATCH --signal=USR2@120" in flags and "#SBATCH --requeue" in flags
    assert sum(f.startswith("#SBATCH --mem") for f in flags) == 1
    assert not any(f.startswith("#SBATCH --wckey") for f in flags)  # submitit's default dropped
    assert not any(f.startswith("#SBATCH --error") for f in flags)  # one log file per job


# ---------------------------------------------------------------------------- sacct / states


SACCT = """\
101|101|COMPLETED|0:0|12|node1|None
102|102|FAILED|1:0|3|node1|NonZeroExitCode
103_0|103|RUNNING|0:0|5|node1|None
103_[1-3%2]|103|PENDING|0:0|0|None assigned|JobArrayTaskLimit
104|104|CANCELLED by 0|0:15|7|node1|None
105|105|OUT_OF_MEMORY|0:125|9|node1|None
warning: something odd
"""


def test_sacct_rows_key_on_jobid_expand_compressed_arrays_and_take_the_first_state_word():
    states = parse_sacct_status(SACCT)
    assert set(states) == {"101", "102", "103_0", "103_1", "103_2", "103_3", "104", "105"}
    assert states["103_2"].state == "PENDING" and states["103_0"].state == "RUNNING"
    assert states["104"].state == "CANCELLED" and states["102"].exit_code == "1:0"


def test_an_oom_killed_srun_step_makes_the_job_out_of_memory():
    """Observed on the test cluster: the job reads FAILED 1:0, only its step OUT_OF_MEMORY."""
    text = (
        "46|46|FAILED|1:0|2|n|None\n46.batch|46.batch|FAILED|1:0|2|n|\n"
        "46.0|46.0|OUT_OF_MEMORY|0:125|0|n|\n"
        "47_1|48|FAILED|1:0|2|n|None\n47_1.0|48.0|OUT_OF_MEMORY|0:125|0|n|\n"
        "49|49|FAILED|1:0|2|n|None\n49.0|49.0|FAILED|1:0|0|n|\n"
    )
    states = parse_sacct_status(text)
    assert states["46"].state == "OUT_OF_MEMORY" and states["47_1"].state == "OUT_OF_MEMORY"
    assert states["49"].state == "FAILED" and set(states) == {"46", "47_1", "49"}


def test_with_duplicates_the_newest_segment_of_a_requeued_job_wins():
    text = "7|7|REQUEUED|0:0|60|n|None\n7|7|RUNNING|0:0|3|n|None\n"
    assert parse_sacct_status(text)["7"].state == "RUNNING"


@pytest.mark.parametrize(
    ("job_id", "expanded"),
    [
        ("5", ["5"]),
        ("5_3", ["5_3"]),
        ("5_[0-2]", ["5_0", "5_1", "5_2"]),
        ("5_[1,4-5%2]", ["5_1", "5_4", "5_5"]),
    ],
)
def test_expand_job_id(job_id, expanded):
    assert expand_job_id(job_id) == expanded


def test_squeue_fallback_parsing():
    states = parse_squeue_status("9|RUNNING\n10_[0-1]|PENDING\n")
    assert states["9"].state == "RUNNING" and states["10_1"].state == "PENDING"


@pytest.mark.parametrize(
    ("state", "code", "outcome", "words"),
    [
        ("COMPLETED", "0:0", Outcome.SUCCESS, ""),
        ("COMPLETED", "1:0", Outcome.FAILED, "non-zero exit"),
        ("FAILED", "1:0", Outcome.FAILED, "exit 1:0"),
        ("TIMEOUT", "0:0", Outcome.FAILED, "raise `runtime` for rule train_bridge"),
        ("OUT_OF_MEMORY", "0:125", Outcome.FAILED, "raise `mem_mb` for rule train_bridge"),
        ("CANCELLED", "0:15", Outcome.FAILED, "cancelled by a user or an admin"),
        ("NODE_FAIL", "0:0", Outcome.FAILED, "infrastructure"),
        ("BOOT_FAIL", "0:0", Outcome.FAILED, "infrastructure"),
        ("DEADLINE", "0:0", Outcome.FAILED, "deadline"),
        ("UNKNOWN", "", Outcome.FAILED, "not a known successful state"),
        ("PENDING", "0:0", Outcome.RUNNING, ""),
        ("REQUEUED", "0:0", Outcome.RUNNING, ""),
        ("PREEMPTED", "0:0", Outcome.RUNNING, ""),
        ("COMPLETING", "0:0", Outcome.RUNNING, ""),
    ],
)
def test_states_are_classified_with_what_to_do_and_nothing_unknown_is_success(
    state, code, outcome, words
):
    verdict = classify(JobState("42", state, code), "train_bridge", "/logs/42_0_log.out")
    assert verdict.outcome is outcome
    assert words in verdict.message
    if outcome is Outcome.FAILED:
        assert verdict.message.startswith(state) and "/logs/42_0_log.out" in verdict.message


def test_a_job_we_cancelled_is_reported_as_such():
    verdict = classify(JobState("1", "CANCELLED", "0:15"), "r", "log", we_cancelled=True)
    assert "cancelled by this workflow" in verdict.message


# ---------------------------------------------------------------------------- registry


def test_registry_keeps_the_newest_submission_per_job_and_survives_a_torn_line(tmp_path):
    registry = SubmissionRegistry(tmp_path / "s.jsonl")
    key = job_key("train_bridge", {"seed": "1", "dataset": "trec"}, ["b.pt", "a.json"])
    assert key == job_key("train_bridge", {"dataset": "trec", "seed": "1"}, ["a.json", "b.pt"])
    first = Submission(key, "10", "train_bridge", {"seed": "1"}, "l", "f", 1.0, "run1")
    registry.append([first])
    registry.append([Submission(key, "11", "train_bridge", {"seed": "1"}, "l", "f", 2.0, "run2")])
    with open(tmp_path / "s.jsonl", "a") as handle:
        handle.write('{"key": "torn')  # a driver killed mid-write
    assert registry.latest_by_key()[key].slurm_id == "11"
    assert len(registry.read()) == 2


# ---------------------------------------------------------------------------- the callable


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


# ---------------------------------------------------------------------------- import cost


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
    with pytest.raises(ValueError, match="--submitit-poll-interval must be a positive integer"):
        plugin.settings_cls(poll_interval=0)
    assert plugin.common_settings.non_local_exec
    assert not plugin.common_settings.pass_envvar_declarations_to_cmd


def test_a_dry_run_with_the_executor_needs_no_cluster(tmp_path):
    """`snakemake -n --executor submitit` must work where no SLURM tool exists."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    env.pop("SLURM_CONF", None)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "all_paper_tables", "-n", "--executor", "submitit",
         "--jobs", "4", "--configfile", "tests/workflow/config.yaml"],
        check=False, cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train_bridge" in proc.stdout + proc.stderr
