"""Prompt tuning on the receiver alone: K learned input vectors, no sender (method.md §5.5).

Two variants:

- `prompt_tuning_control`, the original baseline: [primer ++ K vectors ++ answer], the vectors
  exactly where the bridge's soft tokens go, but the receiver never sees the input. The trained
  prompt is one constant prefix, so greedy decoding gives one output for every item: its
  accuracy is a class frequency by construction (pitfall 10).
- `prompt_tuning`, real prompt tuning: [K vectors ++ text prompt ++ answer], the receiver
  reading the input as in receiver_inputs, the vectors steering it.

Both keep the bridge's output head (RMS-normalise x one learnable scalar starting at s0, §5.5),
its answer-only loss and its schedule (steps, lr, batch, accumulation, clipping, data order)
through train.run_training, so checkpoints, signals and resume behave as the bridge's. There is
no diversity term: the K vectors are the same for every item, so the batch similarity is 1 by
construction and its gradient 0.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from telepathy.baselines.receiver_inputs import (
    describe_text_input,
    evaluate_generator,
    receiver_batch,
)
from telepathy.bridge import unit_rms
from telepathy.data import Example
from telepathy.evaluate import EvalReport, eval_mode, generate_from_embeds
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.losses import labelled_next_token_loss, soft_token_answer_loss
from telepathy.models.pair import LoadedPair, bridge_dtype, embedding_median_rms
from telepathy.rng import seed_everything
from telepathy.train import LoopOutcome, Schedule, Trainee, run_training

log = logging.getLogger(__name__)

PROMPT_TUNING_METHODS = ("prompt_tuning_control", "prompt_tuning")
LATENT_INIT_STD = 0.02  # §5.5: initialised N(0, 0.02²), as the bridge's latent queries


class SoftPrompt(nn.Module):
    """K learned receiver-input vectors behind the bridge's output head."""

    def __init__(self, n_tokens: int, width: int, output_scale_init: float) -> None:
        super().__init__()
        if n_tokens <= 0:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        if not output_scale_init > 0:
            raise ValueError(f"output_scale_init must be > 0, got {output_scale_init}")
        self.latents = nn.Parameter(torch.randn(n_tokens, width) * LATENT_INIT_STD)
        self.output_scale = nn.Parameter(torch.tensor(float(output_scale_init)))

    def forward(self, batch_size: int) -> torch.Tensor:
        """The prompt for a batch, (batch_size, K, width): the same vectors for every item."""
        prompt = unit_rms(self.latents).to(self.latents.dtype) * self.output_scale  # (K, d)
        return prompt.unsqueeze(0).expand(batch_size, -1, -1)  # (B, K, d)


@dataclass
class PromptTuningOutcome:
    """A trained soft prompt and how its training went."""

    prompt: SoftPrompt
    loop: LoopOutcome
    output_scale_init: float
    embedding_rms: float
    train_wall_s: float


def _check_method(method: str) -> None:
    if method not in PROMPT_TUNING_METHODS:
        raise ValueError(
            f"unknown prompt-tuning method {method!r}; expected one of {PROMPT_TUNING_METHODS}"
        )


def _micro_step(
    method: str, pair: LoadedPair, framing: Framing, prompt: SoftPrompt
) -> Callable[[Sequence[Example]], dict[str, torch.Tensor]]:
    """The loss of one micro-batch: the receiver reading the answers after the prompt."""
    receiver = pair.receiver.model
    embed = receiver.get_input_embeddings()

    def control(batch: Sequence[Example]) -> dict[str, torch.Tensor]:
        soft = prompt(len(batch))  # (B, K, d): no input anywhere
        labels = [e.label for e in batch]
        return {"loss": soft_token_answer_loss(receiver, framing, soft, labels, embed)}

    def with_text(batch: Sequence[Example]) -> dict[str, torch.Tensor]:
        inputs = receiver_batch(framing, batch, embed, soft=prompt(len(batch)), loss_on="answer")
        loss = labelled_next_token_loss(
            receiver, inputs.embeds, inputs.attention_mask, inputs.labels
        )
        return {"loss": loss}

    return control if method == "prompt_tuning_control" else with_text


def generate_batch_fn(
    method: str, prompt: SoftPrompt, pair: LoadedPair, framing: Framing
) -> Callable[[Sequence[Example]], list[str]]:
    """Greedy receiver outputs for a batch under either variant."""
    _check_method(method)
    receiver = pair.receiver.model
    embed = receiver.get_input_embeddings()

    def generate(batch: Sequence[Example]) -> list[str]:
        soft = prompt(len(batch))  # (B, K, d)
        if method == "prompt_tuning_control":
            prefix = framing.receiver_prefix(soft, embed)  # (B, P + K, d): no input text
            mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
            return generate_from_embeds(receiver, framing, prefix, mask)
        inputs = receiver_batch(framing, batch, embed, soft=soft)  # left-padded
        return generate_from_embeds(receiver, framing, inputs.embeds, inputs.attention_mask)

    return generate


def evaluate_prompt_tuning(
    method: str,
    prompt: SoftPrompt,
    pair: LoadedPair,
    framing: Framing,
    examples: Sequence[Example],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> EvalReport:
    """Generate, parse and score like the bridge's eval."""
    generate = generate_batch_fn(method, prompt, pair, framing)
    with eval_mode(prompt):
        return evaluate_generator(
            framing, examples, generate, batch_size=batch_size, progress=progress
        )


def train_prompt_tuning(
    method: str,
    cfg: RunConfig,
    pair: LoadedPair,
    framing: Framing,
    train_examples: Sequence[Example],
    quick_eval_examples: Sequence[Example],
    *,
    checkpoint_path: Path,
    metrics_path: Path,
    resume: str = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> PromptTuningOutcome:
    """Train K vectors for the receiver of `pair` on the bridge's schedule (cfg).

    Only pair.receiver is used; a receiver-only pair (sender None) is what the CLI loads.
    """
    _check_method(method)
    started = time.perf_counter()
    seed_everything(cfg.seed)
    receiver = pair.receiver
    embedding_rms = embedding_median_rms(receiver)
    scale_init = cfg.scale_init_factor * embedding_rms
    log.info("receiver embedding median row RMS %.6g -> s0 = %.6g", embedding_rms, scale_init)
    prompt = SoftPrompt(cfg.soft_tokens, receiver.hidden_size, scale_init).to(
        device=pair.device, dtype=bridge_dtype(cfg, pair.device)
    )
    # Pitfall 23: only the prompt trains; the receiver takes no gradient.
    assert not any(p.requires_grad for p in receiver.model.parameters()), "receiver not frozen"
    trainee = Trainee(
        name="soft_prompt",
        module=prompt,
        parameters=dict(prompt.named_parameters()),
        micro_step=_micro_step(method, pair, framing, prompt),
        after_step=lambda: {"output_scale": float(prompt.output_scale.detach())},
        quick_eval=lambda examples: (
            evaluate_prompt_tuning(method, prompt, pair, framing, examples).metrics
        ),
        settings={"method": method},
        checkpoint_extras={"output_scale_init": scale_init, "embedding_rms": embedding_rms},
    )
    loop = run_training(
        cfg,
        pair.identity(),
        trainee,
        Schedule.of(cfg),
        train_examples,
        quick_eval_examples,
        checkpoint_path=checkpoint_path,
        metrics_path=metrics_path,
        resume=resume,
        progress=progress,
        on_step=on_step,
    )
    return PromptTuningOutcome(
        prompt=prompt,
        loop=loop,
        output_scale_init=scale_init,
        embedding_rms=embedding_rms,
        train_wall_s=time.perf_counter() - started,
    )


def describe_prompt_tuning(
    method: str, framing: Framing, outcome: PromptTuningOutcome
) -> dict[str, object]:
    """What the receiver reads under each variant and how the prompt trained, for the result."""
    _check_method(method)
    if method == "prompt_tuning_control":
        receiver_input = {
            **framing.describe(),
            "sender_template": None,
            "receiver_input": "primer ++ K learned vectors (the bridge's slot); no input text",
            "sender_truncation": None,
        }
    else:
        receiver_input = describe_text_input(framing, framing.cfg.soft_tokens)
    return {
        "framing": receiver_input,
        "schedule": dataclasses.asdict(Schedule.of(framing.cfg)),
        "output_scale_init": outcome.output_scale_init,
        "receiver_embedding_median_rms": outcome.embedding_rms,
        "soft_prompt_init_std": LATENT_INIT_STD,
        "diversity_weight": 0.0,  # constant prompt: batch similarity is 1 by construction
    }
