"""Training: frozen LMs, exact resume after a signal, bit-for-bit repeatability on CPU."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from telepathy.data import get_dataset, load_examples
from telepathy.data.batches import BatchSchedule
from telepathy.experiment.config import BRIDGE_ARCHITECTURES, RunConfig
from telepathy.framing import Framing
from telepathy.losses import bridge_loss_terms
from telepathy.models.pair import build_bridge, sender_states
from telepathy.results.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from telepathy.train import TrainingInterrupted, final_bridge_state, train_bridge


def prepare_run(tiny_pair, **overrides):
    cfg = tiny_config(**overrides)
    spec = get_dataset(cfg.dataset)
    framing = Framing(cfg, spec, tiny_pair.sender.tokenizer, tiny_pair.receiver.tokenizer)
    train = load_examples(spec, "train", n_generated=cfg.train_size, task_seed=cfg.task_seed)
    return cfg, framing, train


def run(tiny_pair, cfg, framing, train, stem: Path, **kwargs):
    """train_bridge with checkpoint and log at `stem`.ckpt / `stem`.jsonl, no progress bar."""
    ckpt, log = stem.with_suffix(".ckpt"), stem.with_suffix(".jsonl")
    return train_bridge(
        cfg,
        tiny_pair,
        framing,
        train,
        [],
        checkpoint_path=ckpt,
        metrics_path=log,
        progress=False,
        **kwargs,
    )


def test_no_gradient_reaches_either_lm_but_the_bridge_gets_one(tiny_pair):
    cfg, framing, train = prepare_run(tiny_pair)
    bridge = build_bridge(cfg, tiny_pair, 0.05)
    embed = tiny_pair.receiver.model.get_input_embeddings()
    terms = bridge_loss_terms(cfg, tiny_pair, framing, bridge, embed, train[:4])
    terms["loss"].backward()
    for lm in (tiny_pair.sender.model, tiny_pair.receiver.model):
        assert all(not p.requires_grad and p.grad is None for p in lm.parameters())
        assert not lm.training
    grads = [p.grad for p in bridge.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("architecture", BRIDGE_ARCHITECTURES)
def test_final_bridge_file_rebuilds_the_trained_architecture(tiny_pair, tmp_path, architecture):
    """Train 3 steps, save the file `eval` reads, rebuild it the way `eval` does: same output."""
    cfg, framing, train = prepare_run(tiny_pair, steps=3, bridge_architecture=architecture)
    outcome = run(tiny_pair, cfg, framing, train, tmp_path / "run")
    path = tmp_path / "bridge.pt"
    save_checkpoint(path, final_bridge_state(cfg, tiny_pair, outcome))
    state = load_checkpoint(path)
    assert state["bridge_shape"]["architecture"] == architecture
    saved = RunConfig.from_dict(state["config"])
    torch.manual_seed(1234)  # a different fresh init: only the loaded weights can match
    rebuilt = build_bridge(saved, tiny_pair, state["output_scale_init"])
    rebuilt.load_state_dict(state["bridge"])
    assert type(rebuilt) is type(outcome.bridge) and rebuilt.shape.architecture == architecture
    sender_in = framing.sender_batch(train[:4], tiny_pair.device)
    states = sender_states(
        tiny_pair.sender, sender_in.input_ids, sender_in.attention_mask, cfg.source_layer
    )
    with torch.no_grad():
        expected = outcome.bridge(states, sender_in.attention_mask).soft_tokens
        got = rebuilt(states, sender_in.attention_mask).soft_tokens
    assert torch.equal(got, expected)


def test_interrupted_and_resumed_run_ends_with_identical_weights(tiny_pair, tmp_path):
    cfg, framing, train = prepare_run(tiny_pair)
    straight = run(tiny_pair, cfg, framing, train, tmp_path / "a")

    def preempt_at_step_3(step: int) -> None:
        if step == 3:
            signal.raise_signal(signal.SIGUSR2)  # what SLURM sends before the time limit

    stem = tmp_path / "b"
    with pytest.raises(TrainingInterrupted) as stop:
        run(tiny_pair, cfg, framing, train, stem, on_step=preempt_at_step_3)
    assert stop.value.step == 3 and load_checkpoint(stem.with_suffix(".ckpt"))["step"] == 3
    resumed = run(tiny_pair, cfg, framing, train, stem, resume="auto")
    assert resumed.resumed_from_step == 3 and resumed.restarts == 1
    for name, tensor in straight.bridge.state_dict().items():
        assert torch.equal(tensor, resumed.bridge.state_dict()[name]), name
    logged = stem.with_suffix(".jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in logged] == [1, 2, 3, 4, 5, 6]  # once each
    # a job killed after its last checkpoint but before its result: rerunning reports the same
    again = run(tiny_pair, cfg, framing, train, stem, resume="auto")
    assert again.steps_completed == 6 and again.restarts == 2 and again.final == resumed.final


def test_a_bridge_state_from_before_the_shared_loop_still_resumes_exactly(tiny_pair, tmp_path):
    """Bridge training states written before `trainee` was recorded resume as bridges."""
    cfg, framing, train = prepare_run(tiny_pair, steps=4)
    straight = run(tiny_pair, cfg, framing, train, tmp_path / "a")
    stem = tmp_path / "old"
    with pytest.raises(TrainingInterrupted):
        run(
            tiny_pair,
            cfg,
            framing,
            train,
            stem,
            on_step=lambda s: s == 2 and signal.raise_signal(signal.SIGUSR2),
        )
    state = load_checkpoint(stem.with_suffix(".ckpt"))
    del state["trainee"]  # what bridge states held before the loop was shared
    save_checkpoint(stem.with_suffix(".ckpt"), state)
    resumed = run(tiny_pair, cfg, framing, train, stem, resume="auto")
    assert resumed.resumed_from_step == 2 and resumed.final == straight.final
    for name, tensor in straight.bridge.state_dict().items():
        assert torch.equal(tensor, resumed.bridge.state_dict()[name]), name


def test_sigterm_also_checkpoints(tiny_pair, tmp_path):
    cfg, framing, train = prepare_run(tiny_pair)
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM at step 2"):
        run(
            tiny_pair,
            cfg,
            framing,
            train,
            tmp_path / "c",
            on_step=lambda s: s == 2 and signal.raise_signal(signal.SIGTERM),
        )
    assert load_checkpoint(tmp_path / "c.ckpt")["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is handler_before  # handlers restored


def test_two_cpu_runs_are_bit_identical_and_seeds_differ(tiny_pair, tmp_path):
    cfg, framing, train = prepare_run(tiny_pair, steps=3)
    first, second = (run(tiny_pair, cfg, framing, train, tmp_path / f"r{i}") for i in range(2))
    for name, tensor in first.bridge.state_dict().items():
        assert torch.equal(tensor, second.bridge.state_dict()[name]), name
    other_cfg, _, _ = prepare_run(tiny_pair, steps=3, seed=8)
    other = run(tiny_pair, other_cfg, framing, train, tmp_path / "s")
    assert not torch.equal(other.bridge.latents, first.bridge.latents)


def test_resume_refuses_a_checkpoint_with_other_settings(tiny_pair, tmp_path):
    cfg, framing, train = prepare_run(tiny_pair, steps=2)
    run(tiny_pair, cfg, framing, train, tmp_path / "x")
    other_cfg, _, _ = prepare_run(tiny_pair, steps=2, lr=5e-4)
    with pytest.raises(CheckpointError, match=r"other settings \(lr: 0.001 -> 0.0005\)"):
        run(tiny_pair, other_cfg, framing, train, tmp_path / "x")


def test_metrics_log_records_the_loss_terms(tiny_pair, tmp_path):
    cfg, framing, train = prepare_run(tiny_pair, steps=2)
    run(tiny_pair, cfg, framing, train, tmp_path / "m")
    record = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[-1])
    for key in (
        "loss",
        "lm_loss",
        "batch_similarity",
        "pre_norm_var",
        "output_scale",
        "lr",
        "step_time_s",
        "grad_norm",
    ):
        assert key in record
    assert record["loss"] == pytest.approx(record["lm_loss"] + 0.1 * record["batch_similarity"])


def test_batch_schedule_covers_each_epoch_once_and_is_a_pure_function():
    schedule = BatchSchedule(10, 4, drop_last=False, seed=3)
    epoch = sorted(i for b in range(schedule.batches_per_epoch) for i in schedule.indices(b))
    assert epoch == list(range(10)) and schedule.batches_per_epoch == 3
    fresh = BatchSchedule(10, 4, drop_last=False, seed=3)
    assert fresh.indices(4) == schedule.indices(4)  # no hidden iterator state
    assert BatchSchedule(10, 4, drop_last=True, seed=3).batches_per_epoch == 2


def test_a_non_finite_loss_stops_training_with_a_clear_error(tiny_pair, tmp_path, monkeypatch):
    cfg, framing, train = prepare_run(tiny_pair, steps=3)
    import telepathy.losses as losses_module

    real = losses_module.answer_lm_loss
    monkeypatch.setattr(losses_module, "answer_lm_loss", lambda *a: real(*a) * float("nan"))
    with pytest.raises(FloatingPointError, match="training loss became nan at step 1"):
        run(tiny_pair, cfg, framing, train, tmp_path / "nan")


def test_a_training_log_file_gets_a_line_per_interval_not_one_per_step(tiny_pair, tmp_path, capsys):
    """The bar's loss terms change every step; they must not force a redraw (a line in a log)."""
    cfg, framing, train = prepare_run(tiny_pair, steps=12)
    train_bridge(
        cfg, tiny_pair, framing, train, [],
        checkpoint_path=tmp_path / "s.ckpt", metrics_path=tmp_path / "s.jsonl", progress=True,
    )  # fmt: skip
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train")]
    assert 1 <= len(lines) <= 3, lines  # the start and the end: 12 steps take under 30 s
    assert "12/12" in lines[-1] and "loss=" in lines[-1]
