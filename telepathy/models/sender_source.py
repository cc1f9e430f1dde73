"""Where a bridge job's sender states come from: the frozen sender itself, run up to the
source layer on every batch, or its states cached once by `telepathy cache-sender-states` and
read back (results/sender_cache.py owns the file).

The sender is frozen, so its states of a given input never change: every bridge of a dataset
(seeds, K values, architectures) and every evaluation reads the same ones. With the cache a
bridge job never loads the sender: `CachedSender` stands in for it, carrying what its records
say of the sender (revision, width, parameter count) from the cache's own key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from telepathy.data import Example
from telepathy.experiment.config import RunConfig
from telepathy.experiment.sender_states import cache_settings
from telepathy.framing import Framing
from telepathy.models.lms import LoadedLM
from telepathy.models.pair import sender_states
from telepathy.results.progress import progress
from telepathy.results.provenance import ids_digest
from telepathy.results.sender_cache import (
    SenderCache,
    SenderCacheWriter,
    SenderStatesBatch,
    open_sender_cache,
)


class SenderSource(Protocol):
    """A batch of examples in, the sender's states at the source layer out."""

    def __call__(self, batch: Sequence[Example]) -> SenderStatesBatch: ...


@dataclass
class LiveSender:
    """The loaded sender, run up to the source layer on each batch (right-padded)."""

    lm: LoadedLM
    framing: Framing
    device: torch.device

    def __call__(self, batch: Sequence[Example]) -> SenderStatesBatch:
        sender_in = self.framing.sender_batch(batch, self.device)
        states = sender_states(
            self.lm, sender_in.input_ids, sender_in.attention_mask, self.framing.cfg.source_layer
        )  # (B, T, d_sender)
        return SenderStatesBatch(states, sender_in.attention_mask, sender_in.input_ids)


@dataclass
class CachedSender:
    """The sender's side of a pair when its states come from caches (one per split the job
    reads): no weights and no tokenizer; what the records say of the sender (revision, width,
    parameter count) comes from the caches' key."""

    caches: list[SenderCache]
    device: torch.device
    dtype: torch.dtype | None = None  # the bridge reads any dtype; None keeps the file's
    load_seconds: float = 0.0
    model: Any = None  # nothing to run, freeze or count: the job never loads the sender
    tokenizer: Any = None

    def __post_init__(self) -> None:
        described = {
            (c.key.get("sender_revision"), c.key.get("d_sender"), c.key.get("sender_parameters"))
            for c in self.caches
        }
        if len(described) != 1:
            paths = ", ".join(str(c.path) for c in self.caches)
            raise ValueError(f"the sender caches {paths} were made from different senders")

    @property
    def revision(self) -> str | None:
        return self.caches[0].key.get("sender_revision")

    @property
    def hidden_size(self) -> int:
        return int(self.caches[0].key["d_sender"])

    @property
    def n_parameters(self) -> int | None:
        return self.caches[0].key.get("sender_parameters")

    def __call__(self, batch: Sequence[Example]) -> SenderStatesBatch:
        for cache in self.caches:  # example ids name their split, so one cache holds a batch
            if batch[0].uid in cache.index:
                return cache.batch([e.uid for e in batch], self.device, self.dtype)
        return self.caches[0].batch([e.uid for e in batch], self.device)  # names the miss


def states_source(pair: Any, framing: Framing) -> SenderSource:
    """Where a job's sender states come from: the caches standing in for the pair's sender,
    or the sender itself."""
    if isinstance(pair.sender, CachedSender):
        return pair.sender
    return LiveSender(pair.sender, framing, pair.device)


def build_sender_cache(
    path: Path,
    lm: LoadedLM,
    framing: Framing,
    examples: Sequence[Example],
    *,
    split: str,
    batch_size: int,
    progress_bar: bool = True,
) -> None:
    """Run the sender over `examples` (in order, `batch_size` at a time) and write each one's
    real-token states at the source layer to `path`: bf16 on CUDA, fp32 on CPU (the sender's
    own dtype)."""
    cfg, device = framing.cfg, next(lm.model.parameters()).device
    texts = [framing.sender_text(e) for e in examples]
    lengths = [len(ids) for ids in lm.tokenizer(texts).input_ids]  # what sender_batch encodes
    key = {
        **cache_settings(cfg, split, framing.stage),
        "ids_sha256": ids_digest([e.uid for e in examples]),
        "sender_revision": lm.revision,
        "d_sender": lm.hidden_size,
        "sender_parameters": sum(p.numel() for p in lm.model.parameters()),
    }
    writer = SenderCacheWriter(
        path, [e.uid for e in examples], lengths, lm.hidden_size, lm.model.dtype, key
    )
    live = LiveSender(lm, framing, device)

    def produce(append: Any) -> None:
        starts = range(0, len(examples), batch_size)
        for start in progress(
            starts, desc=f"sender states {split}", unit="batch", enabled=progress_bar
        ):
            batch = live(examples[start : start + batch_size])
            real = batch.attention_mask.sum(dim=1).tolist()
            append(
                [batch.states[i, :n] for i, n in enumerate(real)],
                [batch.input_ids[i, :n] for i, n in enumerate(real)],
            )

    writer.write(produce)


def open_cached_sender(
    paths: dict[str, Path],
    cfg: RunConfig,
    examples: dict[str, Sequence[Example]],
    *,
    stage: str,
    device: torch.device,
    sender_revision: str | None = None,
) -> CachedSender:
    """The caches at `paths` (by split) for `examples` (by split) framed for `stage`, each
    checked against this job's settings, and the sender's revision when the job's models
    manifest records it."""
    started = time.perf_counter()
    caches = []
    for split, path in paths.items():
        expected = {
            **cache_settings(cfg, split, stage),
            "ids_sha256": ids_digest([e.uid for e in examples[split]]),
        }
        if sender_revision is not None:
            expected["sender_revision"] = sender_revision
        caches.append(open_sender_cache(path, expected))
    return CachedSender(caches, device, load_seconds=time.perf_counter() - started)
