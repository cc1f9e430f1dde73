"""The command line end to end on the tiny pair, and its errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telepathy.results.validate import validate_file


def telepathy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "telepathy", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


def train_tiny(run: Path, cache: Path, seed: int, *settings: str) -> subprocess.CompletedProcess:
    """`telepathy train` on the tiny pair / offline sentiment task, outputs under `run`."""
    sets = [arg for setting in settings for arg in ("--set", setting)]
    command = (
        f"train --protocol corrected --pair tiny --dataset synth_sentiment --seed {seed} "
        f"--threads 2 --no-progress --cache-dir {cache} --bridge {run}/bridge.pt "
        f"--checkpoint {run}/ckpt/state.pt --metrics {run}/metrics.jsonl "
        f"--result {run}/train.json"
    )
    return telepathy(*command.split(), *sets)


@pytest.mark.parametrize(
    "command",
    [
        "list",
        "resolve-config",
        "prepare-models",
        "prepare-data",
        "train",
        "eval",
        "validate-results",
        "merge-runs",
        "plan",
        "gpu-usage",
        "status",
        "submit",
    ],
)
def test_every_command_has_help(command):
    proc = telepathy(command, "--help")
    assert proc.returncode == 0 and "usage: telepathy" in proc.stdout


@pytest.mark.slow
@pytest.mark.timing  # alone on the machine: 18 s here; 160 s in CI beside the SLURM worker
def test_tiny_pair_learns_the_offline_binary_task_in_100_steps(model_cache, tmp_path):
    """Train 100 steps, evaluate on 200 held-out items, validate both result files."""
    started = time.perf_counter()
    train = train_tiny(tmp_path, model_cache, 42, "steps=100", "lr=1e-3", "eval_every=50")
    assert train.returncode == 0, train.stderr[-3000:]
    evaluation = telepathy(
        *f"eval --bridge {tmp_path}/bridge.pt --result {tmp_path}/eval.json --threads 2 "
        f"--no-progress --cache-dir {model_cache}".split()
    )
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    elapsed = time.perf_counter() - started
    result = json.loads((tmp_path / "eval.json").read_text())
    metrics, params = result["metrics"], result["parameters"]
    print(
        f"tiny 100-step: accuracy {metrics['accuracy']:.3f} on {metrics['n_examples']} "
        f"held-out items, {elapsed:.1f} s"
    )
    assert metrics["n_examples"] == 200
    assert metrics["accuracy"] >= 0.70  # chance is 0.5; measured 0.845
    assert result["protocol"] == "corrected" and result["kind"] == "eval"
    assert params["bridge_trainable"] == params["bridge_total"] > 0
    assert params["sender_trainable"] == params["receiver_trainable"] == 0
    assert validate_file(tmp_path / "eval.json") == []
    assert validate_file(tmp_path / "train.json") == []
    check = telepathy("validate-results", str(tmp_path))
    assert check.returncode == 0 and "2 files checked, 0 malformed" in check.stdout
    assert elapsed < 60  # the budget on 2 cores


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["perceiver", "mlp", "linear"])
def test_train_then_eval_keeps_the_bridge_architecture(model_cache, tmp_path, architecture):
    """3 steps of `train`, then `eval` rebuilds the bridge from its file: same architecture."""
    train = train_tiny(
        tmp_path,
        model_cache,
        5,
        "steps=3",
        "train_size=16",
        "batch_size=4",
        "eval_every=0",
        "eval_first_n=8",
        f"bridge_architecture={architecture}",
    )
    assert train.returncode == 0, train.stderr[-3000:]
    evaluation = telepathy(
        *f"eval --bridge {tmp_path}/bridge.pt --result {tmp_path}/eval.json --threads 2 "
        f"--no-progress --cache-dir {model_cache}".split()
    )
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    trained = json.loads((tmp_path / "train.json").read_text())
    result = json.loads((tmp_path / "eval.json").read_text())
    assert trained["hyperparameters"]["bridge_shape"]["architecture"] == architecture
    assert result["hyperparameters"]["bridge_architecture"] == architecture
    assert result["parameters"]["bridge_total"] == trained["parameters"]["bridge_total"]
    assert result["metrics"]["n_examples"] == 8
    assert validate_file(tmp_path / "eval.json") == []
    assert validate_file(tmp_path / "train.json") == []


def test_unknown_bridge_architecture_fails_at_resolve_time():
    proc = telepathy(
        *"resolve-config --pair tiny --dataset synth_sentiment --seed 1 "
        "--set bridge_architecture=transformer".split()
    )
    assert proc.returncode == 1
    assert "bridge_architecture must be one of ('perceiver', 'mlp', 'linear')" in proc.stderr
    assert "got 'transformer'" in proc.stderr


def test_unknown_dataset_fails_before_anything_is_written(tmp_path):
    proc = telepathy(
        *f"train --pair tiny --dataset imagenet --seed 1 --bridge {tmp_path}/b.pt "
        f"--checkpoint {tmp_path}/c.pt --metrics {tmp_path}/m.jsonl "
        f"--result {tmp_path}/r.json".split()
    )
    assert proc.returncode == 1
    assert "unknown dataset 'imagenet'; valid names:" in proc.stderr and "sst2" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--pair llama-qwen --dataset sst2", "valid pairs: paper, small, tiny"),
        ("--pair tiny --dataset sst2 --soft-tokens 0", "soft_tokens must be a number >= 1, got 0"),
        ("--pair paper --dataset sst2 --source-layer 40", "beyond the sender's depth"),
    ],
)
def test_bad_run_identity_via_cli(args, message):
    proc = telepathy("resolve-config", "--seed", "1", *args.split())
    assert proc.returncode == 1 and message in proc.stderr


def test_validate_results_reports_a_malformed_file_by_name_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "kind": "eval"}))
    proc = telepathy("validate-results", str(bad))
    assert proc.returncode == 1
    assert str(bad) in proc.stdout and "'run_id' is a required property" in proc.stdout


@pytest.mark.slow
def test_eval_refuses_a_bridge_of_another_pair(model_cache, tmp_path):
    train = train_tiny(tmp_path, model_cache, 1, "steps=1", "train_size=16", "batch_size=4")
    assert train.returncode == 0, train.stderr[-2000:]
    proc = telepathy(
        *f"eval --bridge {tmp_path}/bridge.pt --pair small --result {tmp_path}/e.json "
        f"--cache-dir {model_cache}".split()
    )
    assert proc.returncode == 1
    assert "trained for pair 'tiny', --pair asks for 'small'" in proc.stderr
    assert not (tmp_path / "e.json").exists()


@pytest.mark.slow
def test_sigterm_exits_75_with_a_checkpoint_and_resume_auto_finishes(model_cache, tmp_path):
    """What SLURM does to a job (preemption, scancel): the run checkpoints, then resumes."""
    command = (
        f"train --protocol corrected --pair tiny --dataset synth_sentiment --seed 3 --threads 2 "
        f"--no-progress --cache-dir {model_cache} --bridge {tmp_path}/bridge.pt "
        f"--checkpoint {tmp_path}/state.pt --metrics {tmp_path}/metrics.jsonl "
        f"--result {tmp_path}/train.json --set steps=60 --set train_size=64 --set eval_every=0"
    ).split()
    proc = subprocess.Popen(
        [sys.executable, "-m", "telepathy", *command], stderr=subprocess.PIPE, text=True
    )
    metrics = tmp_path / "metrics.jsonl"
    working = tmp_path / "state.pt.metrics.jsonl"  # grows beside the checkpoint
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if working.exists() and len(working.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 75, stderr[-2000:]
    assert "received SIGTERM" in stderr and "--resume auto" in stderr
    assert not (tmp_path / "train.json").exists()  # no result that looks finished
    assert not metrics.exists()  # nor a metrics log that looks complete
    stopped_at = len(working.read_text().splitlines())
    assert 3 <= stopped_at < 60

    resumed = telepathy(*command)  # --resume auto is the default
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads((tmp_path / "train.json").read_text())
    assert result["metrics"]["restarts"] == 1 and result["metrics"]["steps_completed"] == 60
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(1, 61))
