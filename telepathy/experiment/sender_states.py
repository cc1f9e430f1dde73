"""Which settings the frozen sender's states depend on: the one definition that names a sender
cache (the workflow's path for it) and checks one (a job refuses a cache made otherwise).

The states of an example at the source layer depend on the sender and the layer, on which
examples (dataset, split, the generated tasks' seed and size, the eval list's length) and on how
an example becomes sender text (template, truncated field, token and character limits); not on
the bridge, K, the seed or anything the receiver does. So every bridge of a dataset shares them.
"""

from __future__ import annotations

from typing import Any

from telepathy.experiment.config import RunConfig
from telepathy.experiment.pairs import get_pair
from telepathy.results.provenance import config_digest

SPLITS = ("train", "eval")
DIGEST_CHARS = 12


def cache_settings(cfg: RunConfig, split: str, stage: str) -> dict[str, Any]:
    """Every setting the sender's states of `split`, framed for `stage` ("train" covers its
    quick evals, or "eval"), depend on."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    which = (
        {"train_size": cfg.train_size} if split == "train" else {"eval_first_n": cfg.eval_first_n}
    )
    return {
        "pair": cfg.pair,
        "sender": get_pair(cfg.pair).sender.model_id,
        "source_layer": cfg.source_layer,
        "dataset": cfg.dataset,
        "split": split,
        "task_seed": cfg.task_seed,
        **which,
        "sender_template": cfg.sender_template,
        "truncate_field": cfg.truncate_field,
        "sender_max_tokens": cfg.sender_max_tokens,
        "char_limit": cfg.char_limit(stage),
    }


def cache_digest(cfg: RunConfig, split: str, stage: str) -> str:
    """The short digest that names a cache file of these settings."""
    return config_digest(cache_settings(cfg, split, stage))[:DIGEST_CHARS]
