"""A training step in parts beside its FLOP floor (benchmark-train), on the tiny pair."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config

from telepathy.cli import main
from telepathy.data import get_dataset, load_examples
from telepathy.framing import Framing
from telepathy.latency.train_step import PARTS, StepTimer, measure_train_step
from telepathy.models.pair import build_bridge


def _parts(pair, **overrides):
    cfg = tiny_config(**overrides)
    spec = get_dataset(cfg.dataset)
    examples = load_examples(spec, "eval", task_seed=cfg.task_seed)[:16]
    framing = Framing(cfg, spec, pair.sender.tokenizer, pair.receiver.tokenizer)
    torch.manual_seed(0)
    return cfg, framing, build_bridge(cfg, pair, output_scale_init=0.5), examples


def test_every_part_is_timed_and_the_parts_add_up_to_the_step(tiny_pair):
    _, framing, bridge, examples = _parts(tiny_pair)
    before = {k: v.clone() for k, v in bridge.state_dict().items()}
    result = measure_train_step(
        tiny_pair, framing, bridge, examples, batch_size=4, steps=3, warmup=1
    )
    assert all(len(result.seconds[p]) == 3 for p in PARTS)
    assert all(s > 0 for p in PARTS for s in result.seconds[p])
    summary = result.to_dict()
    assert summary["step_s"] == pytest.approx(sum(v["median_s"] for v in summary["parts"].values()))
    assert summary["floor_s"] > 0 and result.matmul_flops_per_s > 1e8
    # a copy trains: the caller's bridge is untouched
    assert all(torch.equal(before[k], v) for k, v in bridge.state_dict().items())


def test_the_linear_bridge_s_flops_are_its_one_matmul(tiny_pair):
    cfg, framing, bridge, examples = _parts(tiny_pair, bridge_architecture="linear")
    flops = StepTimer(tiny_pair, framing, bridge).flops(examples[:4])
    d_sender, d_receiver = tiny_pair.sender.hidden_size, tiny_pair.receiver.hidden_size
    # pooled (B, d_sender) @ (d_sender, K * d_receiver): 2 * B * d_sender * K * d_receiver
    assert flops["bridge_forward"] == 2 * 4 * d_sender * cfg.soft_tokens * d_receiver
    # backward: the weight gradient only (the sender's states need none)
    assert flops["bridge_backward"] == flops["bridge_forward"]
    assert flops["receiver_backward"] > 0 and flops["sender"] > 0 and flops["optimizer"] == 0


def test_benchmark_train_prints_the_breakdown_and_writes_json(tmp_path, model_cache, capsys):
    out = tmp_path / "step.json"
    code = main(
        ["benchmark-train", "--pair", "tiny", "--random-weights", "--protocol", "corrected",
         "--dataset", "synth_sentiment", "--set", "batch_size=4", "--steps", "2", "--warmup", "0",
         "--cache-dir", str(model_cache), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "x floor" in printed and all(part in printed for part in PARTS)
    record = json.loads(out.read_text())
    assert record["batch_size"] == 4 and set(record["parts"]) == set(PARTS)


def test_benchmark_train_names_a_bad_value_before_loading_anything(caplog):
    code = main(
        ["benchmark-train", "--pair", "tiny", "--random-weights", "--protocol", "corrected",
         "--dataset", "synth_sentiment", "--steps", "0"]
    )  # fmt: skip
    assert code == 1
    assert "--steps: 0 must be >= 1" in caplog.text


@pytest.mark.slow
def test_make_gpu_bench_runs_on_a_cpu_with_the_tiny_pair(tmp_path, model_cache):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TELEPATHY_CACHE": str(model_cache), "PYTHONPATH": str(repo)}
    proc = subprocess.run(
        ["make", "-C", str(repo), "gpu-bench", f"BIN={Path(sys.executable).parent}",
         "GPU_BENCH_PAIR=tiny", "GPU_BENCH_DEVICE=cpu", "GPU_BENCH_STEPS=2",
         f"GPU_BENCH_OUT={tmp_path}"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    live = json.loads((tmp_path / "train_step.json").read_text())
    cached = json.loads((tmp_path / "train_step_cached.json").read_text())
    assert live["batch_size"] == cached["batch_size"] == 16
    assert not live["sender_cache"] and cached["sender_cache"]
    assert live["parts"]["sender"]["flops"] > 0 and cached["parts"]["sender"]["flops"] == 0
    assert live["peak_bytes"] > 0 and cached["peak_bytes"] > 0
    latency = json.loads((tmp_path / "latency.json").read_text())
    assert latency["settings"]["batch_sizes"] == [1]
