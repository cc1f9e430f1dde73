"""LoRA on the receiver (method.md §5.7): rank-8 adapters, the receiver reading the input text.

Adapter: r = 8, alpha = 16, dropout 0.05 on q_proj and v_proj, through `peft` (3,407,872
trainable parameters on Mistral-7B, as the original logged). Loss: LM cross-entropy over the
whole sequence, prompt tokens too, padding masked (§5.7); every target ends with EOS (pitfall
7). The receiver reads the text prompt of receiver_inputs, so LoRA and text prompt tuning see
the same input. No sender.

Two schedules: `method` is the original's own (AdamW lr 1e-4, batch 4, 3 epochs over the first
2,000 train examples, no clipping, constant lr); `bridge` is the run config's (steps, lr, batch,
accumulation, clipping), for a budget matched to the bridge. Both run through
train.run_training, so checkpoints and resume are the bridge's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from telepathy.baselines.receiver_inputs import (
    describe_text_input,
    evaluate_generator,
    receiver_batch,
)
from telepathy.data import Example
from telepathy.evaluate import EvalReport, eval_mode, generate_from_embeds
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.losses import labelled_next_token_loss
from telepathy.models.pair import LoadedPair
from telepathy.rng import seed_everything
from telepathy.train import LoopOutcome, Schedule, Trainee, run_training

LORA_SCHEDULES = ("method", "bridge")


@dataclass(frozen=True)
class LoraSettings:
    """The adapter and the original's schedule (Era B `train_lora_baseline.py`, §5.7)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    loss_on: str = "prompt_and_answer"  # the whole sequence, as the original
    lr: float = 1e-4
    batch_size: int = 4
    epochs: int = 3
    train_first_n: int = 2000
    weight_decay: float = 0.01  # torch's AdamW default, which the original left in place


@dataclass
class LoraOutcome:
    """The receiver with trained adapters and how training went."""

    model: Any  # peft PeftModelForCausalLM wrapping the receiver
    loop: LoopOutcome
    schedule: Schedule
    n_train_examples: int
    train_wall_s: float


def lora_schedule(
    settings: LoraSettings, cfg: RunConfig, n_available: int, which: str
) -> tuple[Schedule, int]:
    """The schedule and how many leading train examples it uses."""
    if which == "bridge":
        return Schedule.of(cfg), n_available
    if which != "method":
        raise ValueError(f"LoRA schedule must be one of {LORA_SCHEDULES}, got {which!r}")
    n_train = min(settings.train_first_n, n_available)
    steps_per_epoch = math.ceil(n_train / settings.batch_size)
    schedule = Schedule(
        steps=settings.epochs * steps_per_epoch,  # whole epochs
        batch_size=settings.batch_size,
        grad_accum=1,
        drop_last=False,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        grad_clip=None,
        seed=cfg.seed,
        # once per epoch when the run asks for quick evals: the config's interval is sized for
        # the bridge's steps, and 1,500 steps at that interval would spend more time evaluating
        eval_every=steps_per_epoch if cfg.eval_every else 0,
        checkpoint_every=cfg.checkpoint_every,
    )
    return schedule, n_train


def attach_lora(receiver_model: Any, settings: LoraSettings) -> Any:
    """Wrap the receiver with fresh adapters, in place; only adapter weights train.

    The adapters' random init (lora_A; lora_B starts at zero) draws from torch's RNG: seed first.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(receiver_model, config)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    # Pitfall 23 for LoRA: nothing but the adapters may take a gradient.
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable), trainable
    return model


def _micro_step(
    model: Any, framing: Framing, settings: LoraSettings
) -> Callable[[Sequence[Example]], dict[str, torch.Tensor]]:
    embed = model.get_input_embeddings()

    def step(batch: Sequence[Example]) -> dict[str, torch.Tensor]:
        inputs = receiver_batch(framing, batch, embed, loss_on=settings.loss_on)  # right-padded
        loss = labelled_next_token_loss(model, inputs.embeds, inputs.attention_mask, inputs.labels)
        return {"loss": loss}

    return step


def evaluate_lora(
    model: Any,
    framing: Framing,
    examples: Sequence[Example],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> EvalReport:
    """Greedy decoding from the text prompt with the adapters on, scored as the bridge's."""
    embed = model.get_input_embeddings()

    def generate(batch: Sequence[Example]) -> list[str]:
        inputs = receiver_batch(framing, batch, embed)  # left-padded
        return generate_from_embeds(model, framing, inputs.embeds, inputs.attention_mask)

    with eval_mode(model):  # no adapter dropout at eval
        return evaluate_generator(
            framing, examples, generate, batch_size=batch_size, progress=progress
        )


def train_lora(
    cfg: RunConfig,
    pair: LoadedPair,
    framing: Framing,
    train_examples: Sequence[Example],
    quick_eval_examples: Sequence[Example],
    *,
    settings: LoraSettings,
    schedule_name: str,
    checkpoint_path: Path,
    metrics_path: Path,
    resume: str = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> LoraOutcome:
    """Attach adapters to pair.receiver (in place: load a fresh receiver per run) and train.

    Only pair.receiver is used; a receiver-only pair (sender None) is what the CLI loads.
    """
    started = time.perf_counter()
    schedule, n_train = lora_schedule(settings, cfg, len(train_examples), schedule_name)
    seed_everything(cfg.seed)
    model = attach_lora(pair.receiver.model, settings)
    trainee = Trainee(
        name="lora",
        module=model,  # train mode: adapter dropout on during steps
        parameters={n: p for n, p in model.named_parameters() if p.requires_grad},
        micro_step=_micro_step(model, framing, settings),
        quick_eval=lambda examples: evaluate_lora(model, framing, examples).metrics,
        settings={**dataclasses.asdict(settings), "schedule_name": schedule_name},
    )
    loop = run_training(
        cfg,
        pair.identity(),
        trainee,
        schedule,
        train_examples[:n_train],
        quick_eval_examples,
        checkpoint_path=checkpoint_path,
        metrics_path=metrics_path,
        resume=resume,
        progress=progress,
        on_step=on_step,
    )
    model.eval()
    return LoraOutcome(
        model=model,
        loop=loop,
        schedule=schedule,
        n_train_examples=n_train,
        train_wall_s=time.perf_counter() - started,
    )


def describe_lora(framing: Framing, settings: LoraSettings, outcome: LoraOutcome) -> dict[str, Any]:
    """The adapter, the schedule that ran and what the receiver read, for the result file."""
    return {
        "lora": dataclasses.asdict(settings),
        "schedule": dataclasses.asdict(outcome.schedule),
        "receiver_text": describe_text_input(framing, None),
        "n_train_examples": outcome.n_train_examples,
    }
