"""Train the bridge: one loop, top to bottom, with atomic checkpoints and exact resume.

Data order is a pure function of (seed, step) (BatchSchedule), the bridge has no dropout and
the LMs are frozen, so a run resumed from a checkpoint ends with the same weights as one that
never stopped (tested on CPU).

The loop itself (`run_training`) knows nothing about bridges: it optimises a `Trainee` (named
parameters plus one micro-step), so the trained baselines (prompt tuning, LoRA) get the same
schedule, checkpoints, signals and resume as the bridge instead of a second copy of the loop.
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
from tqdm import tqdm

from telepathy.bridge import Bridge
from telepathy.data import Example
from telepathy.evaluate import evaluate_examples
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.losses import answer_lm_loss, batch_similarity
from telepathy.models.pair import LoadedPair, build_bridge, embedding_median_rms, sender_states
from telepathy.results.atomic import atomic_write_text
from telepathy.results.checkpoint import (
    CheckpointError,
    check_matches,
    load_checkpoint,
    save_checkpoint,
)
from telepathy.rng import capture_rng_state, restore_rng_state, seed_everything

log = logging.getLogger(__name__)

# SIGTERM: preemption / scancel; SIGUSR2: what the SLURM jobs ask for before their time limit.
CHECKPOINT_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after writing a checkpoint; resume with --resume auto."""

    def __init__(self, step: int, checkpoint: Path, signum: int) -> None:
        super().__init__(
            f"received {signal.Signals(signum).name} at step {step}; checkpoint written to "
            f"{checkpoint}; rerun with --resume auto to continue"
        )
        self.step = step
        self.checkpoint = checkpoint


class BatchSchedule:
    """Shuffled batches with the iterator restarted every epoch, as a function of the index."""

    def __init__(self, n_examples: int, batch_size: int, drop_last: bool, seed: int) -> None:
        if n_examples < (batch_size if drop_last else 1):
            raise ValueError(
                f"{n_examples} training examples cannot fill one batch of {batch_size}"
            )
        self.n, self.batch_size, self.seed = n_examples, batch_size, seed
        per_epoch = n_examples / batch_size
        self.batches_per_epoch = math.floor(per_epoch) if drop_last else math.ceil(per_epoch)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, batch_index: int) -> list[int]:
        """Example indices of the `batch_index`-th micro-batch since the start of training."""
        epoch, position = divmod(batch_index, self.batches_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=generator)
        start = position * self.batch_size
        return self._order[start : start + self.batch_size].tolist()


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


def working_metrics_path(checkpoint_path: Path) -> Path:
    """Where the metrics log grows during training: beside the resumable checkpoint."""
    return checkpoint_path.with_name(checkpoint_path.name + ".metrics.jsonl")


def _rewrite_metrics(path: Path, keep_through_step: int | None) -> None:
    """Start the JSONL log fresh, or (on resume) drop records written after the checkpoint."""
    kept: list[str] = []
    if keep_through_step is not None and path.exists():
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= keep_through_step
        ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _trainee_identity(trainee: Trainee, schedule: Schedule) -> dict[str, Any]:
    return {
        "name": trainee.name,
        "settings": trainee.settings,
        "schedule": dataclasses.asdict(schedule),
    }


def _check_trainee(state: dict[str, Any], path: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume one method's training state as another's, or with other settings."""
    # Bridge states written before the loop was shared carry no "trainee"; the bridge's
    # schedule is part of its config, which check_matches compares.
    found = state.get("trainee") or {"name": "bridge"}
    if found["name"] != identity["name"] or ("settings" in found and found != identity):
        raise CheckpointError(
            f"checkpoint {path} holds the training state of {found!r}, this run trains "
            f"{identity!r}; delete it or point --checkpoint at the matching run"
        )


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
    params = list(trainee.parameters.values())
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    identity = _trainee_identity(trainee, schedule)

    start_step, restarts, resumed_from = 0, 0, None
    final: dict[str, float] = {}
    quick_evals: list[dict[str, Any]] = []
    if resume == "never":
        resume_from = None
    elif resume == "auto":  # continue only if a checkpoint is there
        resume_from = checkpoint_path if checkpoint_path.exists() else None
    else:  # an explicit path must exist
        resume_from = Path(resume)
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        check_matches(state, resume_from, pair=pair_identity, cfg=cfg)
        _check_trainee(state, resume_from, identity)
        _load_weights(trainee, state[trainee.name], resume_from)
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"])
        start_step, resumed_from = state["step"], state["step"]
        restarts = state["restarts"] + 1
        final, quick_evals = state["last_metrics"], state["quick_evals"]
        log.info("resumed from %s at step %d (restart %d)", resume_from, start_step, restarts)
    # The log grows beside the checkpoint, not at metrics_path: a job Snakemake or SLURM
    # restarts deletes its declared outputs first, and the resumed run's log must still show
    # every step from 1. metrics_path gets a complete copy once training finishes.
    working_log = working_metrics_path(checkpoint_path)
    _rewrite_metrics(working_log, resumed_from)

    batches = BatchSchedule(
        len(train_examples), schedule.batch_size, schedule.drop_last, schedule.seed
    )
    # No clipping still logs the gradient norm: an infinite max_norm never rescales.
    max_norm = schedule.grad_clip if schedule.grad_clip is not None else math.inf
    step_times: list[float] = []
    step = start_step
    with (
        _signal_flag() as flag,
        working_log.open("a") as metrics_file,
        tqdm(
            total=schedule.steps,
            initial=start_step,
            disable=not progress,
            desc=f"train {trainee.name}",
            unit="step",
            mininterval=2.0,
        ) as bar,
    ):
        while step < schedule.steps:
            tick = time.perf_counter()
            trainee.module.train()
            optimizer.zero_grad(set_to_none=True)
            totals = dict.fromkeys(trainee.logged_terms, 0.0)
            for micro in range(schedule.grad_accum):
                indices = batches.indices(step * schedule.grad_accum + micro)
                terms = trainee.micro_step([train_examples[i] for i in indices])
                (terms["loss"] / schedule.grad_accum).backward()  # accumulation as the original
                for key in totals:
                    totals[key] += float(terms[key].detach()) / schedule.grad_accum
            if not math.isfinite(totals["loss"]):
                # Stop before the optimiser spreads NaN into the weights and the GPU hours
                # after it are wasted; the last checkpoint is still intact.
                details = ", ".join(f"{k} {v}" for k, v in totals.items() if k != "loss")
                raise FloatingPointError(
                    f"training loss became {totals['loss']} at step {step + 1} "
                    f"({details}); lower lr or check the inputs"
                )
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            optimizer.step()
            step += 1
            step_times.append(time.perf_counter() - tick)
            final = {**totals, **trainee.after_step()}
            record = {
                "step": step,
                **final,
                "grad_norm": float(grad_norm),
                "lr": schedule.lr,
                "step_time_s": step_times[-1],
            }
            if (
                schedule.eval_every
                and step % schedule.eval_every == 0
                and quick_eval_examples
                and trainee.quick_eval is not None
            ):
                metrics = trainee.quick_eval(quick_eval_examples)
                record["quick_eval_accuracy"] = metrics["accuracy"]
                record["quick_eval_invalid_rate"] = metrics["invalid_rate"]
                quick_evals.append({"step": step, **metrics})
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            bar.update(1)
            bar.set_postfix(
                {k: f"{final[k]:.3f}" for k in ("loss", "batch_similarity") if k in final}
            )
            if on_step is not None:
                on_step(step)
            if flag["signum"] or step % schedule.checkpoint_every == 0 or step == schedule.steps:
                state = {
                    "kind": "training_state",
                    "step": step,
                    "restarts": restarts,
                    "config": cfg.to_dict(),
                    "config_sha256": cfg.digest(),
                    "pair": pair_identity,
                    "trainee": identity,
                    **trainee.checkpoint_extras,
                    trainee.name: {k: p.detach() for k, p in trainee.parameters.items()},
                    "optimizer": optimizer.state_dict(),
                    "rng": capture_rng_state(),
                    # so a run resumed at its last step still reports its final losses
                    "last_metrics": final,
                    "quick_evals": quick_evals,
                }
                save_checkpoint(checkpoint_path, state)
            if flag["signum"]:
                raise TrainingInterrupted(step, checkpoint_path, flag["signum"])
    atomic_write_text(metrics_path, working_log.read_text())
    return LoopOutcome(
        steps_completed=step,
        restarts=restarts,
        resumed_from_step=resumed_from,
        final=final,
        mean_step_s=sum(step_times) / len(step_times) if step_times else 0.0,
        quick_evals=quick_evals,
    )


def _load_weights(trainee: Trainee, saved: dict[str, torch.Tensor], path: Path) -> None:
    """Copy checkpointed weights into the trainee's parameters; the names must match exactly."""
    if set(saved) != set(trainee.parameters):
        missing = sorted(set(trainee.parameters) - set(saved))[:5]
        unexpected = sorted(set(saved) - set(trainee.parameters))[:5]
        raise CheckpointError(
            f"checkpoint {path} does not hold this {trainee.name}'s parameters (missing "
            f"{missing}, unexpected {unexpected}); delete it or start fresh with --resume never"
        )
    with torch.no_grad():
        for name, param in trainee.parameters.items():
            param.copy_(saved[name])


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
    for lm in (pair.sender.model, pair.receiver.model):
        assert not any(p.requires_grad for p in lm.parameters()), "base LM is not frozen"
    embed = pair.receiver.model.get_input_embeddings()
    trainee = Trainee(
        name="bridge",
        module=bridge,
        parameters={n: p for n, p in bridge.named_parameters() if p.requires_grad},
        micro_step=lambda batch: _micro_step(cfg, pair, framing, bridge, embed, batch),
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


def _micro_step(
    cfg: RunConfig,
    pair: LoadedPair,
    framing: Framing,
    bridge: Bridge,
    embed: torch.nn.Module,
    batch: Sequence[Example],
) -> dict[str, torch.Tensor]:
    """Loss terms of one micro-batch: sender -> bridge -> receiver reading the answers."""
    device = pair.device
    sender_in = framing.sender_batch(batch, device)
    states = sender_states(
        pair.sender, sender_in.input_ids, sender_in.attention_mask, cfg.source_layer
    )  # (B, T, d_sender)
    out = bridge(states, sender_in.attention_mask)  # soft tokens (B, K, d_receiver)
    labels = [e.label for e in batch]
    lm_loss = soft_token_answer_loss(pair.receiver.model, framing, out.soft_tokens, labels, embed)
    similarity = batch_similarity(out.soft_tokens)
    return {
        "loss": lm_loss + cfg.diversity_weight * similarity,
        "lm_loss": lm_loss,
        "batch_similarity": similarity,
        "pre_norm_var": out.pre_norm_variance,
    }


def soft_token_answer_loss(
    model: Any,
    framing: Framing,
    soft_tokens: torch.Tensor,
    labels: Sequence[str],
    embed: torch.nn.Module,
) -> torch.Tensor:
    """LM loss on the answers after [primer ++ soft tokens], the bridge's objective (§2.1).

    The prompt-tuning control puts its K vectors in the same slot and shares this.
    soft_tokens: (B, K, d_receiver).
    """
    answers = framing.answer_batch(labels, soft_tokens.device)  # (B, A)
    embeds, mask = framing.training_inputs(soft_tokens, answers, embed)  # (B, P+K+A, d)
    n_answer = answers.input_ids.shape[1]
    # Keep logits only where answer tokens are predicted: positions P+K-1 .. P+K+A-2.
    logits = model(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=n_answer + 1).logits[
        :, :n_answer
    ]  # (B, A, V)
    return answer_lm_loss(logits, answers.input_ids, answers.mask)


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
