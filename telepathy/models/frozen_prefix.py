"""A frozen LM's keys and values for a fixed leading text, computed once and reused.

In every training step the receiver reads [primer ++ soft tokens ++ answer]. Under causal
attention the primer's keys and values at every layer depend on the primer alone, and the
receiver is frozen, so they are the same tensors in every step. Computing them once and handing
them to the model as its cache leaves the step only the positions that change: the primer's
share of the receiver's forward and backward is gone (P of P + K + A positions: 3 of ≈14 on the
small pair at K 8, where the receiver's forward and backward went from 722 to 616 ms at batch
8 on one CPU thread). The logits and the soft tokens' gradients equal the full sequence's within
the dtype's rounding (tests/models/test_frozen_prefix.py).

The prompting baselines use the same two pieces (`prefix_cache`, `for_batch`) for the tokens
every prompt of a run begins with (baselines/prompting.generate_greedy).
"""

from __future__ import annotations

import copy
import functools
import inspect
import weakref
from collections.abc import Sequence
from typing import Any

import torch

# model -> {(prefix ids, device): the prefix's cache at batch 1}; weak, so a model that
# is dropped takes its caches with it
_CACHES: weakref.WeakKeyDictionary[Any, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def cache_keyword(model: Any) -> str:
    """The forward's name for a key/value cache: transformers 5 renamed `past_key_values` to
    `cache` (the old name warns, and goes in 5.40); 4.56 knows only the old one."""
    return _cache_keyword_of(type(model))


@functools.cache
def _cache_keyword_of(model_class: type) -> str:
    # once per class: the training step asks on every call
    parameters = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The key/value cache a forward with use_cache=True returned, under either version's name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def prefix_cache(model: Any, prefix_ids: Sequence[int], device: torch.device) -> Any:
    """The keys and values of `model` reading the token ids `prefix_ids`, at batch 1."""
    ids = torch.tensor([list(prefix_ids)], device=device)  # (1, P)
    with torch.no_grad():
        return returned_cache(model(input_ids=ids, use_cache=True))


def for_batch(cache: Any, batch_size: int) -> Any:
    """A copy of a batch-1 cache repeated over `batch_size` rows; the model appends to the copy
    (a forward adds the new positions' keys and values), never to the shared one."""
    copied = copy.deepcopy(cache)
    copied.batch_repeat_interleave(batch_size)
    return copied


def _frozen_prefix_cache(model: Any, prefix_ids: Sequence[int], device: torch.device) -> Any:
    """prefix_cache of a frozen model, computed on first use and kept with the model."""
    key = (tuple(prefix_ids), device)
    per_model = _CACHES.setdefault(model, {})
    if key not in per_model:
        if any(p.requires_grad for p in model.parameters()):
            # a model that trains changes its keys and values with every step
            raise ValueError("a prefix cache needs a frozen model; this one has trainable weights")
        per_model[key] = prefix_cache(model, prefix_ids, device)
    return per_model[key]


def forward_after_prefix(
    model: Any,
    prefix_ids: Sequence[int],
    embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    **kwargs: Any,
) -> Any:
    """`model` reading [prefix ++ embeds] with the prefix's keys and values taken from a cache.

    Args:
        prefix_ids: the fixed leading tokens, the same in every row (the primer).
        embeds: (B, L, d) what follows the prefix, right-padded.
        attention_mask: (B, P + L), covering the prefix too.
        kwargs: passed to the model (logits_to_keep, ...). Positions continue from P.
    """
    if not prefix_ids:
        return model(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)
    # the model embeds the ids with its own input-embedding module, as Framing embeds the primer
    cache = for_batch(_frozen_prefix_cache(model, prefix_ids, embeds.device), embeds.shape[0])
    return model(
        inputs_embeds=embeds,
        attention_mask=attention_mask,
        use_cache=True,
        **{cache_keyword(model): cache},
        **kwargs,
    )
