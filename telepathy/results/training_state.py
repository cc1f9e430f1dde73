"""The resumable training state: what the training loop checkpoints and how it resumes from it.

A `kind: "training_state"` checkpoint (checkpoint.py's layout) holds the step, the restart
count, the resolved config and pair, which trainee it trained with which settings and
schedule, the trainee's weights under the trainee's name, the optimiser and RNG states and the
last metrics. It holds only plain dicts, tensors and RNG states, so earlier versions' states load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from telepathy.experiment.config import RunConfig
from telepathy.results.checkpoint import (
    CheckpointError,
    check_matches,
    load_checkpoint,
    save_checkpoint,
)
from telepathy.rng import capture_rng_state, restore_rng_state


@dataclass(frozen=True)
class ResumeKey:
    """What a training state must match to be resumed: the settings, the pair and the trainee."""

    cfg: RunConfig
    pair: dict[str, Any]  # LoadedPair.identity()
    trainee: dict[str, Any]  # name, settings, schedule; the name keys the trainee's weights


@dataclass
class TrainingProgress:
    """Where a training loop stands: what its checkpoint restores besides the weights."""

    step: int = 0
    restarts: int = 0
    resumed_from: int | None = None
    final: dict[str, float] = field(default_factory=dict)
    quick_evals: list[dict[str, Any]] = field(default_factory=list)


def resume_source(resume: str, checkpoint_path: Path) -> Path | None:
    """The checkpoint to continue from: resume is "auto", "never" or an explicit path."""
    if resume == "never":
        return None
    if resume == "auto":  # continue only if a checkpoint is there
        return checkpoint_path if checkpoint_path.exists() else None
    return Path(resume)  # an explicit path must exist: load_checkpoint says so if not


def check_trainee(state: dict[str, Any], path: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume one method's training state as another's, or with other settings."""
    # Bridge states written before the loop was shared carry no "trainee"; the bridge's
    # schedule is part of its config, which check_matches compares.
    found = state.get("trainee") or {"name": "bridge"}
    if found["name"] != identity["name"] or ("settings" in found and found != identity):
        raise CheckpointError(
            f"checkpoint {path} holds the training state of {found!r}, this run trains "
            f"{identity!r}; delete it or point --checkpoint at the matching run"
        )


def restore_parameters(
    name: str, parameters: dict[str, torch.nn.Parameter], saved: dict[str, torch.Tensor], path: Path
) -> None:
    """Copy checkpointed weights into the trainee's parameters; the names must match exactly."""
    if set(saved) != set(parameters):
        missing = sorted(set(parameters) - set(saved))[:5]
        unexpected = sorted(set(saved) - set(parameters))[:5]
        raise CheckpointError(
            f"checkpoint {path} does not hold this {name}'s parameters (missing "
            f"{missing}, unexpected {unexpected}); delete it or start fresh with --resume never"
        )
    with torch.no_grad():
        for key, param in parameters.items():
            param.copy_(saved[key])


def resume_training(
    source: Path | None,
    key: ResumeKey,
    parameters: dict[str, torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
) -> TrainingProgress:
    """Put back weights, optimiser and RNG states from `source`; a fresh start without one."""
    if source is None:
        return TrainingProgress()
    state = load_checkpoint(source)
    check_matches(state, source, pair=key.pair, cfg=key.cfg)
    check_trainee(state, source, key.trainee)
    name = key.trainee["name"]
    restore_parameters(name, parameters, state[name], source)
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"])
    return TrainingProgress(
        step=state["step"],
        restarts=state["restarts"] + 1,
        resumed_from=state["step"],
        final=state["last_metrics"],
        quick_evals=state["quick_evals"],
    )


def save_training_state(
    path: Path,
    key: ResumeKey,
    trainee_state: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    progress: TrainingProgress,
) -> None:
    """Checkpoint everything resume_training needs to continue exactly where the loop stands.

    trainee_state: the trainee's self-description, and its weights under its name.
    """
    state = {
        "kind": "training_state",
        "step": progress.step,
        "restarts": progress.restarts,
        "config": key.cfg.to_dict(),
        "config_sha256": key.cfg.digest(),
        "pair": key.pair,
        "trainee": key.trainee,
        **trainee_state,
        "optimizer": optimizer.state_dict(),
        "rng": capture_rng_state(),
        # so a run resumed at its last step still reports its final losses
        "last_metrics": progress.final,
        "quick_evals": progress.quick_evals,
    }
    save_checkpoint(path, state)
