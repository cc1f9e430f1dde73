"""Self-describing checkpoints: written atomically, checked against the run before use.

Two kinds share one layout: the resumable training state (`kind: "training_state"`, with the
optimiser and RNG states) and the final bridge (`kind: "bridge"`, what `eval` reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from telepathy.experiment.config import RunConfig, with_later_settings
from telepathy.results.atomic import atomic_torch_save

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for this run; the message says why and what to do."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a killed job never leaves a truncated checkpoint."""
    atomic_torch_save({"format_version": FORMAT_VERSION, **state}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (on CPU; callers move tensors)."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # weights_only=False: the file holds RNG states (numpy tuples) next to tensors; these
        # files are our own, written by this package.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"checkpoint {path} is unreadable ({err}); delete it") from err
    found = state.get("format_version") if isinstance(state, dict) else None
    if found != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {found!r}, expected {FORMAT_VERSION}; it was not "
            "written by this version of telepathy"
        )
    return state


def check_matches(
    state: dict[str, Any], path: Path, *, pair: dict[str, Any], cfg: RunConfig | None
) -> None:
    """Refuse a checkpoint trained for another pair or (when cfg is given) other settings."""
    for key in ("name", "sender_id", "receiver_id"):
        found, wanted = state["pair"].get(key), pair.get(key)
        if found != wanted:
            raise CheckpointError(
                f"checkpoint {path} was trained for pair {key} {found!r}, this run uses "
                f"{wanted!r}; delete it or point to the checkpoint of the matching run"
            )
    if cfg is None:
        return
    saved = with_later_settings(state["config"])  # a run from before a setting existed
    current = cfg.to_dict()
    differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differing:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing)
        raise CheckpointError(
            f"checkpoint {path} was written with other settings ({details}); resume only with "
            "the same settings, or start fresh with --resume never"
        )
