"""What a job loads before its work starts: the examples, the pair and the one Framing object.

Shared by every command that runs models (train, eval, the trained baselines and controls,
inspect-bridge, benchmark-latency), so that all of them read the same recorded eval list and
frame inputs the same way. The command line (`telepathy/cli/`) turns its options into the
values these functions take; nothing here reads arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from telepathy.data import DatasetSpec, DataSnapshot, Example, get_dataset, load_examples
from telepathy.data import open_snapshot as open_data_snapshot
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.models.pair import LoadedPair, build_bridge, load_pair


def load_train_examples(cfg: RunConfig, data: DataSnapshot | None) -> list[Example]:
    """Training examples (generated tasks: cfg.train_size items from cfg.task_seed)."""
    spec = get_dataset(cfg.dataset)
    return load_examples(
        spec, "train", snapshot=data, n_generated=cfg.train_size, task_seed=cfg.task_seed
    )


def load_eval_examples(
    cfg: RunConfig, data: DataSnapshot | None
) -> tuple[DatasetSpec, list[Example], dict[str, str]]:
    """The dataset spec, the recorded eval list and its description (pitfall 16)."""
    spec = get_dataset(cfg.dataset)
    evaluation = load_examples(spec, "eval", snapshot=data, task_seed=cfg.task_seed)
    if cfg.eval_first_n is not None:
        evaluation = evaluation[: cfg.eval_first_n]
    split = spec.hub.eval_split if spec.hub else "eval"
    selection = "all" if cfg.eval_first_n is None else f"first {cfg.eval_first_n}"
    return spec, evaluation, {"split": split, "selection": selection}


@dataclass
class RunInputs:
    """A job's loaded inputs. `train_examples` is None unless asked for; a side of the pair
    not in `roles` is None (a baseline that uses only the receiver loads only it)."""

    data: DataSnapshot | None
    train_examples: list[Example] | None
    eval_examples: list[Example]
    eval_desc: dict[str, str]
    pair: LoadedPair
    framing: Framing


@dataclass(frozen=True)
class ModelSource:
    """Where the models load from: the device, the model cache and the prepare-models manifest."""

    device: torch.device
    cache_dir: Path | None = None
    manifest: Path | None = None


def load_run_inputs(
    cfg: RunConfig,
    data: DataSnapshot | None,
    models: ModelSource,
    *,
    stage: str,
    roles: tuple[str, ...] = ("sender", "receiver"),
    with_train: bool = False,
    sender_caches: dict[str, Path] | None = None,
) -> RunInputs:
    """Data first (cheap checks fail before any model loads), then only the LMs in `roles`,
    then the one Framing for `stage` ("train" or "eval"). With `sender_caches` (by split) the
    sender is not loaded: the caches, checked against this run, stand in for it."""
    spec, eval_examples, eval_desc = load_eval_examples(cfg, data)
    train_examples = load_train_examples(cfg, data) if with_train else None
    if sender_caches:
        roles = tuple(r for r in roles if r != "sender")
    pair = load_pair(cfg.pair, models.device, models.cache_dir, roles=roles, models=models.manifest)
    if sender_caches:
        pair.sender = _cached_sender(
            cfg, sender_caches, models, stage, train_examples, eval_examples
        )
    framing = Framing(
        cfg,
        spec,
        pair.sender.tokenizer if pair.sender else None,
        pair.receiver.tokenizer if pair.receiver else None,
        stage=stage,
    )
    return RunInputs(data, train_examples, eval_examples, eval_desc, pair, framing)


def _cached_sender(
    cfg: RunConfig,
    caches: dict[str, Path],
    models: ModelSource,
    stage: str,
    train_examples: list[Example] | None,
    eval_examples: list[Example],
) -> Any:
    from telepathy.models.lms import read_models_manifest
    from telepathy.models.sender_source import open_cached_sender

    if "train" in caches and train_examples is None:
        raise ValueError("a train-split sender cache was given to a job that does not train")
    revision = None
    if models.manifest is not None:  # the sender's revision, without loading it
        revision = read_models_manifest(models.manifest, cfg.pair)["sender"].get("revision")
    examples = {"train": train_examples or [], "eval": eval_examples}
    return open_cached_sender(
        caches, cfg, examples, stage=stage, device=models.device, sender_revision=revision
    )


@dataclass
class TrainedBridgeRun:
    """A final bridge file loaded for use: its state and config, its inputs and the bridge."""

    path: Path
    state: dict[str, Any]
    cfg: RunConfig
    inputs: RunInputs
    bridge: Any  # Bridge, on the pair's device and the config's dtype


def load_trained_bridge(
    path: Path,
    *,
    expected_pair: str | None,
    data_path: Path | None,
    models: ModelSource,
    sender_caches: dict[str, Path] | None = None,
) -> TrainedBridgeRun:
    """What `eval` and `inspect-bridge` share: read the final bridge at `path`, check it against
    `expected_pair`, load the pair and the recorded eval list, and rebuild the bridge from the
    file's own config. `data_path` is the dataset's snapshot (None for generated tasks)."""
    from telepathy.results.checkpoint import CheckpointError, check_matches, load_checkpoint

    state = load_checkpoint(path)
    if state.get("kind") != "bridge":
        raise CheckpointError(f"{path} is a {state.get('kind')!r} file, not a final bridge")
    cfg = RunConfig.from_dict(state["config"])
    if expected_pair and expected_pair != cfg.pair:
        raise CheckpointError(
            f"checkpoint {path} was trained for pair {cfg.pair!r}, --pair asks for "
            f"{expected_pair!r}; evaluate it with its own pair or point --bridge at the right run"
        )
    data = open_data_snapshot(data_path, cfg.dataset) if data_path is not None else None
    inputs = load_run_inputs(cfg, data, models, stage="eval", sender_caches=sender_caches)
    check_matches(state, path, pair=inputs.pair.identity(), cfg=None)
    bridge = build_bridge(cfg, inputs.pair, state["output_scale_init"])
    bridge.load_state_dict(state["bridge"])
    return TrainedBridgeRun(path, state, cfg, inputs, bridge)
