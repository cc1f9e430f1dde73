"""The result record of a prompting-baseline run: run-result schema v1, kind "eval".

No bridge and no soft tokens: `soft_tokens` and `source_layer` are null, bridge parameter
counts are 0, and a model the method never loaded has null counts and revision rather than a
number nobody measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import torch

from telepathy.baselines.prompt_templates import describe_prompts, task_prompts
from telepathy.baselines.prompting_config import PromptingConfig
from telepathy.bridge import count_parameters
from telepathy.data import DatasetSpec, Example
from telepathy.experiment.pairs import get_pair
from telepathy.models.lms import LoadedLM
from telepathy.parsing import PARSER_DESCRIPTION
from telepathy.results.identity import result_id, run_id
from telepathy.results.provenance import collect_provenance
from telepathy.results.run_record import device_name
from telepathy.results.validate import SCHEMA_VERSION, ids_digest


def _counts(models: Mapping[str, LoadedLM], role: str) -> tuple[int | None, int | None]:
    if role not in models:
        return None, None  # never loaded, so never counted
    model = models[role].model
    return count_parameters(model), count_parameters(model, trainable_only=True)


def build_prompting_record(
    cfg: PromptingConfig,
    models: Mapping[str, LoadedLM],
    device: torch.device,
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    samples: list[dict[str, Any]],
    eval_desc: dict[str, str],
    timings: dict[str, float],
    started_at: datetime,
    ended_at: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """One eval record in the run-result v1 shape, with one sample per eval item; `data` is
    the data snapshot's provenance."""
    pair = get_pair(cfg.pair)
    sender_total, sender_trainable = _counts(models, "sender")
    receiver_total, receiver_trainable = _counts(models, "receiver")
    ids = [s["id"] for s in samples]
    run = run_id(
        method=cfg.method, protocol=cfg.protocol, pair=cfg.pair, dataset=cfg.dataset, seed=cfg.seed
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": result_id(run, "eval"),
        "kind": "eval",
        "method": cfg.method,
        "protocol": cfg.protocol,
        "pair": {
            "name": pair.name,
            "sender_id": pair.sender.model_id,
            "receiver_id": pair.receiver.model_id,
            "sender_revision": models["sender"].revision if "sender" in models else None,
            "receiver_revision": models["receiver"].revision if "receiver" in models else None,
        },
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "soft_tokens": None,
        "source_layer": None,
        "hyperparameters": hyperparameters,
        "metrics": metrics,
        "timings": {k: round(float(v), 6) for k, v in timings.items()},
        "parameters": {
            "bridge_trainable": 0,
            "bridge_total": 0,
            "sender_total": sender_total,
            "receiver_total": receiver_total,
            "sender_trainable": sender_trainable,
            "receiver_trainable": receiver_trainable,
        },
        "provenance": collect_provenance(
            config_sha256=cfg.digest(),
            started_at=started_at,
            ended_at=ended_at,
            device=device_name(device),
            data=data,
        ),
        "eval_examples": {**eval_desc, "n": len(ids), "ids_sha256": ids_digest(ids)},
        "samples": samples,
    }


def prompting_hyperparameters(
    cfg: PromptingConfig,
    spec: DatasetSpec,
    example_prompts: Mapping[str, str],
    demos: Sequence[Example],
    n_train: int | None,
) -> dict[str, Any]:
    """Every setting, the prompts as used, and (few-shot) the demonstrations drawn."""
    values: dict[str, Any] = {
        **cfg.to_dict(),
        "models_loaded": list(cfg.spec.models),
        "prompts": describe_prompts(task_prompts(spec), spec),
        "example_prompts": dict(example_prompts),
        "decoding": (
            f"greedy; answer max_new_tokens={cfg.answer_max_new_tokens}"
            + (
                f"; summary max_new_tokens={cfg.summary_max_new_tokens}"
                if cfg.summary_max_new_tokens
                else ""
            )
        ),
        "parser": PARSER_DESCRIPTION,
        "truncation": f"{cfg.truncate_field} to "
        + (f"its first {cfg.input_max_chars} characters, then to " if cfg.input_max_chars else "")
        + f"{cfg.input_max_tokens} tokens of the reading model",
    }
    if cfg.spec.family == "few_shot":
        ids = [d.uid for d in demos]
        values["demonstrations"] = {
            "k": len(ids),
            "ids": ids,
            "ids_sha256": ids_digest(ids),
            "labels": [d.label for d in demos],
            "n_train": n_train,
            "selection": (
                "one set per seed shared by every eval item; train items whose text matches no "
                "eval item; classification balanced round-robin over classes, otherwise random"
            ),
        }
    return values
