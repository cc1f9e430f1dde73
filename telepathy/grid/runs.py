"""What the grid is made of: a bridge run, a baseline run, a latency benchmark, each keyed by
the wildcard values of its result paths, and the Grid that holds them (`expand` builds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from telepathy.experiment.config import RunConfig

# The wildcard names of each kind of run's paths, in the order of its key. `k` is the soft-token
# count (`soft_tokens` everywhere else): the one-letter name is part of the result paths (k8/).
RUN_WILDCARDS = ("pair", "dataset", "arch", "k", "layer", "seed")
BASELINE_WILDCARDS = ("method", "pair", "dataset", "seed")
LATENCY_WILDCARDS = ("mode", *RUN_WILDCARDS)
SENDER_CACHE_WILDCARDS = ("pair", "dataset", "layer", "split", "cache_key")


@dataclass(frozen=True)
class BridgeRun:
    """One bridge to train and evaluate, and the studies (main, ablations) that use it."""

    pair: str
    dataset: str
    architecture: str
    soft_tokens: int
    source_layer: int
    seed: int
    settings: Mapping[str, Any]  # the --set overrides, as strings Snakemake passes on
    config: RunConfig
    studies: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        """The values of RUN_WILDCARDS in its result paths."""
        return (
            self.pair,
            self.dataset,
            self.architecture,
            str(self.soft_tokens),
            str(self.source_layer),
            str(self.seed),
        )


@dataclass(frozen=True)
class BaselineRun:
    """One baseline or control on one dataset and seed, at the dataset's main bridge settings."""

    method: str
    pair: str
    dataset: str
    seed: int
    soft_tokens: int
    source_layer: int
    settings: Mapping[str, Any]  # --set overrides of the command
    options: Mapping[str, Any]  # other command options (shots, lora schedule)
    digest: str  # of the resolved settings: a change reruns the job
    config: RunConfig  # the dataset's main bridge settings at this seed

    @property
    def key(self) -> tuple[str, ...]:
        """The values of BASELINE_WILDCARDS in its result path."""
        return (self.method, self.pair, self.dataset, str(self.seed))


@dataclass(frozen=True)
class LatencyRun:
    """One latency benchmark: a trained bridge of the grid, or full-size random weights."""

    mode: str  # trained | random_weights
    bridge: BridgeRun
    options: Mapping[str, Any]  # batch_sizes, trials, warmup, decode_tokens, relay_tokens, ...

    @property
    def key(self) -> tuple[str, ...]:
        """The values of LATENCY_WILDCARDS in its result path."""
        return (self.mode, *self.bridge.key)


@dataclass(frozen=True)
class SenderCacheRun:
    """One cache of the frozen sender's states (a split of a dataset at a source layer, framed
    one way), computed once for every bridge that reads it; `config` and `settings` are those
    of the first bridge that needs it (what `cache-sender-states` is given)."""

    pair: str
    dataset: str
    source_layer: int
    split: str  # train | eval
    stage: str  # the framing: train (training and its quick evals) | eval
    digest: str  # of experiment.sender_states.cache_settings: names the file
    seed: int
    settings: Mapping[str, Any]
    config: RunConfig

    @property
    def key(self) -> tuple[str, ...]:
        """The values of SENDER_CACHE_WILDCARDS in its path."""
        return (self.pair, self.dataset, str(self.source_layer), self.split, self.digest)


@dataclass
class Grid:
    """Everything a protocol's grid asks for, each keyed by its wildcard values."""

    protocol: str
    runs: dict[tuple[str, ...], BridgeRun] = field(default_factory=dict)
    baselines: dict[tuple[str, ...], BaselineRun] = field(default_factory=dict)
    latency: dict[tuple[str, ...], LatencyRun] = field(default_factory=dict)
    # `sender_cache: true`: training reads the sender's states from these instead of the sender
    sender_cache: bool = False
    sender_caches: dict[tuple[str, ...], SenderCacheRun] = field(default_factory=dict)
    # which caches each bridge run's training reads, by split: run key -> split -> cache key
    training_caches: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # and the one its evaluation reads (the eval list framed for evaluation): run key -> cache
    evaluation_caches: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
