"""What a prompting baseline's eval record holds (built by results.run_record, the one builder).

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
from telepathy.data import DatasetSpec, Example
from telepathy.experiment.pairs import get_pair
from telepathy.models.lms import LoadedLM
from telepathy.models.pair import LoadedPair
from telepathy.parsing import PARSER_DESCRIPTION
from telepathy.results.provenance import ids_digest
from telepathy.results.run_record import build_record, eval_examples_block


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
    """One eval record (run_record.build_record), with one sample per eval item; `models` holds
    only the LMs the method loaded, `data` is the data snapshot's provenance."""
    pair = LoadedPair(get_pair(cfg.pair), models.get("sender"), models.get("receiver"), device)
    return build_record(
        kind="eval",
        cfg=cfg,
        pair=pair,
        bridge=None,
        hyperparameters=hyperparameters,
        metrics=metrics,
        timings=timings,
        started_at=started_at,
        ended_at=ended_at,
        data=data,
        method=cfg.method,
        extra={"eval_examples": eval_examples_block(eval_desc, samples), "samples": samples},
    )


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
