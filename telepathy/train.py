"""Train the bridge: one loop, top to bottom, with atomic checkpoints and exact resume.

Data order is a pure function of (seed, step) (BatchSchedule), the bridge has no dropout and
the LMs are frozen, so a run resumed from a checkpoint ends with the same weights as one that
never stopped (tested on CPU).

The loop itself (`run_training`) knows nothing about bridges: it optimises a `Trainee` (named
parameters plus one micro-step), so the trained baselines (prompt tuning, LoRA) get the same
schedule, checkpoints, signals and resume as the bridge instead of a second copy of the loop.
Its files have their owners in results/ (training_state.py: the resumable checkpoint;
metrics_log.py: the per-step log); the bridge's loss is losses.bridge_loss_terms.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from telepathy.bridge import Bridge
from telepathy.data import Example
from telepathy.data.batches import BatchSchedule
from telepathy.evaluate import evaluate_examples
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.losses import adamw, bridge_loss_terms
from telepathy.models.pair import LoadedPair, build_bridge, embedding_median_rms
from telepathy.results.metrics_log import publish_metrics_log, start_metrics_log
from telepathy.results.progress import progress_bar
from telepathy.results.training_state import (
    ResumeKey,
    TrainingProgress,
    resume_source,
    resume_training,
    save_training_state,
)
from telepathy.rng import seed_everything

log = logging.getLogger(__name__)

# SIGTERM: preemption / scancel; SIGUSR2: what the SLURM jobs ask for before their time limit.
CHECKPOINT_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)
BAR_TERMS = ("loss", "batch_similarity")  # shown beside the progress bar when logged


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after writing a checkpoint; resume with --resume auto."""

    def __init__(self, step: int, checkpoint: Path, signum: int) -> None:
        super().__init__(
            f"received {signal.Signals(signum).name} at step {step}; checkpoint written to "
            f"{checkpoint}; rerun with --resume auto to continue"
        )
        self.step = step
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class Schedule:
    """How the loop steps: data order, optimiser, clipping, quick evals and checkpoints."""

    steps: int
    batch_size: int
    grad_accum: int
    drop_last: bool
    lr: float
    weight_decay: float
    grad_clip: float | None  # None: no clipping (the LoRA original, method.md §5.7)
    seed: int
    eval_every: int = 0  # quick eval every N optimiser steps; 0 = never
    checkpoint_every: int = 500

    @classmethod
    def of(cls, cfg: RunConfig) -> Schedule:
        """The bridge's schedule, which prompt tuning shares (method.md §5.5)."""
        return cls(
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            grad_accum=cfg.grad_accum,
            drop_last=cfg.drop_last,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            grad_clip=cfg.grad_clip,
            seed=cfg.seed,
            eval_every=cfg.eval_every,
            checkpoint_every=cfg.checkpoint_every,
        )

    def checkpoint_due(self, step: int) -> bool:
        """Whether the loop checkpoints after optimiser step `step` (the last one always)."""
        return step % self.checkpoint_every == 0 or step == self.steps


@dataclass
class Trainee:
    """What the loop optimises: named parameters, one micro-step, and what to log and keep."""

    name: str  # "bridge", "soft_prompt", "lora": also the checkpoint key of the weights
    module: torch.nn.Module  # put in train mode before every step
    parameters: dict[str, torch.nn.Parameter]  # optimised, clipped and checkpointed; only these
    micro_step: Callable[[Sequence[Example]], dict[str, torch.Tensor]]  # "loss" + logged terms
    logged_terms: tuple[str, ...] = ("loss",)
    after_step: Callable[[], dict[str, float]] = dict  # values logged after each step
    quick_eval: Callable[[Sequence[Example]], dict[str, Any]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # must match on resume
    checkpoint_extras: dict[str, Any] = field(default_factory=dict)  # self-description

    def saved_state(self) -> dict[str, Any]:
        """What a training state holds of the trainee: its extras, its weights under its name."""
        weights = {k: p.detach() for k, p in self.parameters.items()}
        return {**self.checkpoint_extras, self.name: weights}


@dataclass
class LoopOutcome:
    """What the loop reports for any trainee."""

    steps_completed: int
    restarts: int
    resumed_from_step: int | None
    final: dict[str, float]
    mean_step_s: float
    quick_evals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainOutcome:
    """What a finished training run reports."""

    bridge: Bridge
    steps_completed: int
    restarts: int
    resumed_from_step: int | None
    output_scale_init: float
    embedding_rms: float
    final: dict[str, float]
    mean_step_s: float
    train_wall_s: float
    quick_evals: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def _signal_flag() -> Iterator[dict[str, int | None]]:
    """Record the first checkpoint signal instead of dying; restore the old handlers after."""
    flag: dict[str, int | None] = {"signum": None}

    def handler(signum: int, _frame: Any) -> None:
        flag["signum"] = flag["signum"] or signum

    previous = {s: signal.signal(s, handler) for s in CHECKPOINT_SIGNALS}
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _trainee_identity(trainee: Trainee, schedule: Schedule) -> dict[str, Any]:
    """What a training state must have been written by to resume this run."""
    return {
        "name": trainee.name,
        "settings": trainee.settings,
        "schedule": dataclasses.asdict(schedule),
    }


def _quick_eval(
    trainee: Trainee, schedule: Schedule, at: TrainingProgress, examples: Sequence[Example]
) -> dict[str, float]:
    """Run the trainee's quick eval when one is due at this step; its metrics-log fields."""
    if not (
        schedule.eval_every
        and at.step % schedule.eval_every == 0
        and examples
        and trainee.quick_eval is not None
    ):
        return {}
    metrics = trainee.quick_eval(examples)
    at.quick_evals.append({"step": at.step, **metrics})
    return {
        "quick_eval_accuracy": metrics["accuracy"],
        "quick_eval_invalid_rate": metrics["invalid_rate"],
    }


def _progress_bar(trainee: Trainee, schedule: Schedule, initial: int, *, enabled: bool) -> Any:
    """A progress bar over the optimiser steps, starting at the resumed step."""
    return progress_bar(
        schedule.steps, desc=f"train {trainee.name}", unit="step", enabled=enabled, initial=initial
    )


def _optimiser_step(
    trainee: Trainee,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    batches: BatchSchedule,
    examples: Sequence[Example],
    step: int,
) -> tuple[dict[str, float], torch.Tensor]:
    """AdamW step `step + 1` over grad_accum micro-batches; mean logged terms, gradient norm."""
    trainee.module.train()
    optimizer.zero_grad(set_to_none=True)
    accum = schedule.grad_accum
    totals = dict.fromkeys(trainee.logged_terms, 0.0)
    for micro in range(accum):
        indices = batches.indices(step * accum + micro)
        terms = trainee.micro_step([examples[i] for i in indices])
        (terms["loss"] / accum).backward()  # accumulation as the original
        for key in totals:
            totals[key] += float(terms[key].detach()) / accum
    if not math.isfinite(totals["loss"]):
        # Stop before the optimiser spreads NaN into the weights and the GPU hours after it
        # are wasted; the last checkpoint is still intact.
        details = ", ".join(f"{k} {v}" for k, v in totals.items() if k != "loss")
        raise FloatingPointError(
            f"training loss became {totals['loss']} at step {step + 1} "
            f"({details}); lower lr or check the inputs"
        )
    # No clipping still logs the gradient norm: an infinite max_norm never rescales.
    max_norm = schedule.grad_clip if schedule.grad_clip is not None else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(list(trainee.parameters.values()), max_norm)
    optimizer.step()
    return totals, grad_norm


def run_training(
    cfg: RunConfig,
    pair_identity: dict[str, Any],
    trainee: Trainee,
    schedule: Schedule,
    train_examples: Sequence[Example],
    quick_eval_examples: Sequence[Example],
    *,
    checkpoint_path: Path,
    metrics_path: Path,
    resume: str = "auto",
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> LoopOutcome:
    """Optimise `trainee` for schedule.steps steps with AdamW; see the module docstring.

    The caller seeds and builds the trainee (its initialisation draws from the RNG). resume:
    "auto" (continue from checkpoint_path if it exists), "never" (start fresh), or the path of
    a checkpoint to continue from.
    """
    optimizer = adamw(trainee.parameters.values(), schedule.lr, schedule.weight_decay)
    key = ResumeKey(cfg, pair_identity, _trainee_identity(trainee, schedule))
    source = resume_source(resume, checkpoint_path)
    at = resume_training(source, key, trainee.parameters, optimizer)
    if source is not None:
        log.info("resumed from %s at step %d (restart %d)", source, at.step, at.restarts)
    working_log = start_metrics_log(checkpoint_path, at.resumed_from)
    batches = BatchSchedule(
        len(train_examples), schedule.batch_size, schedule.drop_last, schedule.seed
    )
    step_times: list[float] = []
    with (
        _signal_flag() as flag,
        working_log.open("a") as metrics_file,
        _progress_bar(trainee, schedule, at.step, enabled=progress) as bar,
    ):
        while at.step < schedule.steps:
            tick = time.perf_counter()
            totals, grad_norm = _optimiser_step(
                trainee, optimizer, schedule, batches, train_examples, at.step
            )
            at.step += 1
            step_times.append(time.perf_counter() - tick)
            at.final = {**totals, **trainee.after_step()}
            record = {
                "step": at.step,
                **at.final,
                "grad_norm": float(grad_norm),
                "lr": schedule.lr,
                "step_time_s": step_times[-1],
                **_quick_eval(trainee, schedule, at, quick_eval_examples),
            }
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            # no redraw of its own: a redraw per step would be a line per step in a log file
            terms = {k: f"{at.final[k]:.3f}" for k in BAR_TERMS if k in at.final}
            bar.set_postfix(terms, refresh=False)
            bar.update(1)  # draws when the interval is up
            if on_step is not None:
                on_step(at.step)
            if flag["signum"] or schedule.checkpoint_due(at.step):
                save_training_state(checkpoint_path, key, trainee.saved_state(), optimizer, at)
            if flag["signum"]:
                raise TrainingInterrupted(at.step, checkpoint_path, flag["signum"])
    publish_metrics_log(working_log, metrics_path)
    return LoopOutcome(
        steps_completed=at.step,
        restarts=at.restarts,
        resumed_from_step=at.resumed_from,
        final=at.final,
        mean_step_s=sum(step_times) / len(step_times) if step_times else 0.0,
        quick_evals=at.quick_evals,
    )


def train_bridge(
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
) -> TrainOutcome:
    """Train a bridge for cfg.steps optimiser steps; see the module docstring.

    resume: "auto" (continue from checkpoint_path if it exists), "never" (start fresh), or
    the path of a checkpoint to continue from.
    """
    started = time.perf_counter()
    seed_everything(cfg.seed)
    embedding_rms = embedding_median_rms(pair.receiver)
    scale_init = cfg.scale_init_factor * embedding_rms
    log.info("receiver embedding median row RMS %.6g -> s0 = %.6g", embedding_rms, scale_init)
    bridge = build_bridge(cfg, pair, scale_init)
    # Pitfall 23: the optimiser holds only bridge parameters and neither LM can take a gradient.
    for lm in (pair.sender.model, pair.receiver.model):  # a cached sender has no model
        assert lm is None or not any(p.requires_grad for p in lm.parameters()), "LM not frozen"
    embed = pair.receiver.model.get_input_embeddings()
    trainee = Trainee(
        name="bridge",
        module=bridge,
        parameters={n: p for n, p in bridge.named_parameters() if p.requires_grad},
        micro_step=lambda batch: bridge_loss_terms(cfg, pair, framing, bridge, embed, batch),
        logged_terms=("loss", "lm_loss", "batch_similarity", "pre_norm_var"),
        after_step=lambda: {"output_scale": float(bridge.output_scale.detach())},
        quick_eval=lambda examples: evaluate_examples(bridge, pair, framing, examples).metrics,
        checkpoint_extras={
            "bridge_shape": vars(bridge.shape),
            "output_scale_init": scale_init,
            "embedding_rms": embedding_rms,
        },
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
    return TrainOutcome(
        bridge=bridge,
        steps_completed=loop.steps_completed,
        restarts=loop.restarts,
        resumed_from_step=loop.resumed_from_step,
        output_scale_init=scale_init,
        embedding_rms=embedding_rms,
        final=loop.final,
        mean_step_s=loop.mean_step_s,
        train_wall_s=time.perf_counter() - started,
        quick_evals=loop.quick_evals,
    )


def final_bridge_state(cfg: RunConfig, pair: LoadedPair, outcome: TrainOutcome) -> dict[str, Any]:
    """The artifact `eval` reads: weights plus everything needed to rebuild and check them."""
    return {
        "kind": "bridge",
        "step": outcome.steps_completed,
        "config": cfg.to_dict(),
        "config_sha256": cfg.digest(),
        "pair": pair.identity(),
        "bridge_shape": vars(outcome.bridge.shape),
        "output_scale_init": outcome.output_scale_init,
        "embedding_rms": outcome.embedding_rms,
        "bridge": outcome.bridge.state_dict(),
    }
