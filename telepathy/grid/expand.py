"""The experiment grid of a workflow config: every bridge run, ablation, baseline and latency
benchmark it asks for, each resolved by telepathy itself.

Resolving while Snakemake plans makes every bad value (an unknown dataset, a layer beyond the
sender's depth, a baseline that cannot apply to a dataset) fail before any job is submitted.
Runs are keyed by what makes them different, so an ablation point that equals a main run (say
SST-2, K = 8, layer 16, seed 42, Perceiver) is trained once and shared. Pure: config in, runs out;
workflow/rules/common.smk turns them into paths and shell arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from telepathy.baselines.prompting_config import resolve_prompting_config
from telepathy.data import get_dataset
from telepathy.experiment.config import resolve_run_config
from telepathy.experiment.methods import (
    BASELINE_METHODS,
    DETERMINISTIC_METHODS,
    PROBE_METHOD,
    PROMPTING_METHODS,
)
from telepathy.experiment.pairs import get_pair, scale_layer
from telepathy.experiment.sender_states import cache_digest
from telepathy.grid.runs import BaselineRun, BridgeRun, Grid, LatencyRun, SenderCacheRun

# Keys of a grid entry that are run settings (passed to `telepathy train --set`).
SETTING_KEYS = ("steps", "lr", "batch_size", "grad_accum", "eval_first_n", "sender_template")
DEFAULT_ARCHITECTURE = "perceiver"
# A bridge setting a prompting baseline must share so that both score the same items with the
# same amount of text (pitfalls 2, 16, 21): run-setting name -> prompting-setting name.
SHARED_WITH_PROMPTING = {
    "eval_first_n": "eval_first_n",
    "task_seed": "task_seed",
    "train_size": "train_size",
    "sender_max_tokens": "input_max_tokens",
    "truncate_field": "truncate_field",
}


class GridError(ValueError):
    """A grid entry that cannot run; the message names the entry and the bad value."""


def expand_grid(config: Mapping[str, Any]) -> Grid:
    """Every run of config["grids"][config["protocol"]], restricted by datasets/seeds."""
    protocol = config["protocol"]
    if protocol not in config["grids"]:
        raise GridError(
            f"config key protocol is {protocol!r} but grids has no entry for it; "
            f"grids defines: {', '.join(config['grids'])}"
        )
    spec = config["grids"][protocol]
    wanted_datasets = set(config.get("datasets") or [])
    wanted_seeds = {int(seed) for seed in config.get("seeds") or []}
    known = {entry["dataset"] for entry in spec["runs"]}
    unknown = wanted_datasets - known
    if unknown:
        raise GridError(
            f"config key datasets asks for {sorted(unknown)}, which the {protocol} grid does "
            f"not have; it has: {', '.join(sorted(known))}"
        )
    main_entries = {entry["dataset"]: entry for entry in spec["runs"]}
    grid = Grid(protocol, sender_cache=bool(spec.get("sender_cache", False)))
    expander = _Expander(config, grid, wanted_datasets, wanted_seeds)
    for entry in spec["runs"]:
        if "study" in entry:
            raise GridError(
                f"runs entry {entry['dataset']} has study {entry['study']!r}: studies belong in "
                "the grid's ablations list; runs are the main results"
            )
        expander.bridge_runs(entry, "main")
    for number, entry in enumerate(spec.get("ablations") or [], start=1):
        main = main_entries.get(entry["dataset"])
        if main is None:
            raise GridError(
                f"ablation {number} ({entry['study']}) is on {entry['dataset']!r}, which has no "
                f"main entry in the {protocol} grid's runs to take its settings from; "
                f"datasets with one: {', '.join(sorted(main_entries))}"
            )
        expander.bridge_runs({**_inherited(main), **entry}, entry["study"])
    for method, entry in (spec.get("baselines") or {}).items():
        if entry is None:  # switched off (an overlay can drop one of config.yaml's methods)
            continue
        expander.baselines(method, entry, main_entries)
    for number, entry in enumerate(spec.get("latency") or [], start=1):
        expander.latency(number, entry)
    return grid


def _inherited(main: Mapping[str, Any]) -> dict[str, Any]:
    """What an ablation entry takes from its dataset's main entry: settings and seeds."""
    keys = (*SETTING_KEYS, "seeds", "source_layers")
    return {key: main[key] for key in keys if key in main}


class _Expander:
    """Adds the runs of one grid section at a time to `grid`."""

    def __init__(
        self,
        config: Mapping[str, Any],
        grid: Grid,
        wanted_datasets: set[str],
        wanted_seeds: set[int],
    ) -> None:
        self.config = config
        self.grid = grid
        self.wanted_datasets = wanted_datasets
        self.wanted_seeds = wanted_seeds
        self.spec = config["grids"][grid.protocol]
        self.global_settings = dict(config.get("settings") or {})

    def _wanted(self, dataset: str) -> bool:
        return not self.wanted_datasets or dataset in self.wanted_datasets

    def _seeds(self, seeds: Iterable[int]) -> list[int]:
        return [s for s in seeds if not self.wanted_seeds or s in self.wanted_seeds]

    def _settings(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.global_settings, **{key: entry[key] for key in SETTING_KEYS if key in entry}}

    def bridge_runs(self, entry: Mapping[str, Any], study: str) -> None:
        dataset = entry["dataset"]
        if not self._wanted(dataset):
            return
        settings = self._settings(entry)
        seeds = self._seeds(entry.get("seeds", self.spec["seeds"]))
        for pair in self.config["pairs"]:
            depth = get_pair(pair).sender.n_layers
            layers = [scale_layer(layer, depth) for layer in entry.get("source_layers", [])]
            for architecture in entry.get("architectures", [DEFAULT_ARCHITECTURE]):
                for soft_tokens in entry["soft_tokens"]:
                    for layer in layers or [None]:
                        for seed in seeds:
                            self._add_bridge(
                                pair,
                                dataset,
                                architecture,
                                soft_tokens,
                                layer,
                                seed,
                                settings,
                                study,
                            )

    def _add_bridge(
        self, pair, dataset, architecture, soft_tokens, layer, seed, settings, study
    ) -> None:
        run_settings = dict(settings)
        if architecture != DEFAULT_ARCHITECTURE:
            run_settings["bridge_architecture"] = architecture
        overrides = {**run_settings, "soft_tokens": soft_tokens}
        if layer is not None:
            overrides["source_layer"] = layer
        cfg = resolve_run_config(
            protocol=self.grid.protocol, pair=pair, dataset=dataset, seed=seed, overrides=overrides
        )
        run = BridgeRun(
            pair=pair,
            dataset=dataset,
            architecture=architecture,
            soft_tokens=soft_tokens,
            source_layer=cfg.source_layer,
            seed=seed,
            settings=run_settings,
            config=cfg,
            studies=(study,),
        )
        earlier = self.grid.runs.get(run.key)
        if earlier is not None:  # the same bridge in two studies: train it once
            studies = tuple(dict.fromkeys((*earlier.studies, study)))
            run = dataclasses.replace(earlier, studies=studies)
        self.grid.runs[run.key] = run
        if self.grid.sender_cache:
            self._sender_caches(run)

    def _sender_caches(self, run: BridgeRun) -> None:
        """The sender caches `run` reads, each shared with every run that needs it: in training
        its train split and the eval list its quick evals score (framed as in training); in
        evaluation the eval list framed for evaluation (the same file where both framings
        agree)."""
        cfg = run.config
        splits = ("train", "eval") if cfg.eval_every > 0 else ("train",)
        self.grid.training_caches[run.key] = {
            split: self._cache(run, split, "train") for split in splits
        }
        self.grid.evaluation_caches[run.key] = self._cache(run, "eval", "eval")

    def _cache(self, run: BridgeRun, split: str, stage: str) -> tuple[str, ...]:
        cache = SenderCacheRun(
            pair=run.pair,
            dataset=run.dataset,
            source_layer=run.source_layer,
            split=split,
            stage=stage,
            digest=cache_digest(run.config, split, stage),
            seed=run.seed,
            settings=run.settings,
            config=run.config,
        )
        return self.grid.sender_caches.setdefault(cache.key, cache).key

    def baselines(
        self, method: str, entry: Mapping[str, Any], main_entries: Mapping[str, Mapping]
    ) -> None:
        if method not in BASELINE_METHODS:
            raise GridError(f"baseline {method!r} is unknown; baselines: {BASELINE_METHODS}")
        datasets = entry.get("datasets")
        explicit = datasets is not None
        for dataset in datasets if explicit else sorted(main_entries):
            if dataset not in main_entries:
                raise GridError(
                    f"baseline {method} lists dataset {dataset!r}, which has no main entry in "
                    f"the {self.grid.protocol} grid's runs (it takes K, layer, steps and the "
                    f"eval list from there); datasets with one: {', '.join(sorted(main_entries))}"
                )
            why_not = _inapplicable(method, dataset)
            if why_not:
                if explicit:
                    raise GridError(f"baseline {method} cannot run on {dataset}: {why_not}")
                continue
            if not self._wanted(dataset):
                continue
            main = main_entries[dataset]
            default_seeds = (
                self.spec["seeds"][:1]
                if method in DETERMINISTIC_METHODS
                else main.get("seeds", self.spec["seeds"])
            )
            for pair in self.config["pairs"]:
                for seed in self._seeds(entry.get("seeds", default_seeds)):
                    run = self._baseline(method, entry, main, pair, dataset, seed)
                    self.grid.baselines[run.key] = run

    def _baseline(self, method, entry, main, pair, dataset, seed) -> BaselineRun:
        settings = self._settings(main)
        soft_tokens = main["soft_tokens"][0]
        overrides = {**settings, "soft_tokens": soft_tokens}
        layers = main.get("source_layers")
        if layers:
            overrides["source_layer"] = scale_layer(layers[0], get_pair(pair).sender.n_layers)
        cfg = resolve_run_config(
            protocol=self.grid.protocol, pair=pair, dataset=dataset, seed=seed, overrides=overrides
        )
        options: dict[str, Any] = {}
        digest = cfg.digest()
        if method in PROMPTING_METHODS:
            # only what prompting shares with the bridge: the eval list and the truncation
            settings = {new: getattr(cfg, old) for old, new in SHARED_WITH_PROMPTING.items()}
            if cfg.char_limit("eval") is not None:  # the faithful presets' character cut
                settings["input_max_chars"] = cfg.char_limit("eval")
            shots = _shots(entry, dataset) if "few_shot" in method else None
            if shots is not None:
                options["shots"] = shots
            digest = resolve_prompting_config(
                method=method,
                protocol=self.grid.protocol,
                pair=pair,
                dataset=dataset,
                seed=seed,
                shots=shots,
                overrides=settings,
            ).digest()
        if method == "lora":
            options["lora_schedule"] = entry.get("lora_schedule", "method")
        return BaselineRun(
            method=method,
            pair=pair,
            dataset=dataset,
            seed=seed,
            soft_tokens=soft_tokens,
            source_layer=cfg.source_layer,
            settings=settings,
            options=options,
            digest=digest,
            config=cfg,
        )

    def latency(self, number: int, entry: Mapping[str, Any]) -> None:
        dataset = entry["dataset"]
        if not self._wanted(dataset):
            return
        mode = "random_weights" if entry.get("random_weights") else "trained"
        options = {
            key: entry[key]
            for key in ("batch_sizes", "trials", "warmup", "decode_tokens", "relay_tokens")
            if key in entry
        }
        for pair in self.config["pairs"]:
            depth = get_pair(pair).sender.n_layers
            layer = entry.get("source_layer")
            wanted = (
                pair,
                dataset,
                entry.get("architecture", DEFAULT_ARCHITECTURE),
                str(entry["soft_tokens"]),
                None if layer is None else str(scale_layer(layer, depth)),
                str(entry["seed"]),
            )
            bridge = self._latency_bridge(number, mode, wanted, entry)
            if bridge is None:
                continue
            run = LatencyRun(mode=mode, bridge=bridge, options=options)
            self.grid.latency[run.key] = run

    def _latency_bridge(self, number, mode, wanted, entry) -> BridgeRun | None:
        """The trained bridge a latency entry times (it must be a run of the grid)."""
        matches = [
            run
            for key, run in self.grid.runs.items()
            if all(w is None or w == value for w, value in zip(wanted, key, strict=True))
        ]
        if mode == "trained":
            if not matches:
                if self.wanted_seeds and int(wanted[-1]) not in self.wanted_seeds:
                    return None  # its bridge is outside a --config seeds= restriction
                raise GridError(
                    f"latency entry {number} times the trained bridge {'/'.join(map(str, wanted))}"
                    " (pair/dataset/architecture/K/layer/seed), which no runs or ablations entry "
                    "of the grid trains; add it there or set random_weights: true"
                )
            return matches[0]
        # random weights: the bridge's settings, resolved afresh (its run need not exist)
        if matches:
            return matches[0]
        pair, dataset, architecture, soft_tokens, layer, seed = wanted
        overrides: dict[str, Any] = {**self.global_settings, "soft_tokens": int(soft_tokens)}
        if layer is not None:
            overrides["source_layer"] = int(layer)
        if architecture != DEFAULT_ARCHITECTURE:
            overrides["bridge_architecture"] = architecture
        cfg = resolve_run_config(
            protocol=self.grid.protocol,
            pair=pair,
            dataset=dataset,
            seed=int(seed),
            overrides=overrides,
        )
        settings = {
            key: v for key, v in overrides.items() if key not in ("soft_tokens", "source_layer")
        }
        return BridgeRun(
            pair,
            dataset,
            architecture,
            int(soft_tokens),
            cfg.source_layer,
            int(seed),
            settings,
            cfg,
            (),
        )


def _shots(entry: Mapping[str, Any], dataset: str) -> int | None:
    """The shots of a few-shot entry: one number for every dataset, or a per-dataset mapping."""
    shots = entry.get("shots")
    if isinstance(shots, Mapping):
        return shots.get(dataset, shots.get("default"))
    return shots


def _inapplicable(method: str, dataset: str) -> str | None:
    """Why `method` cannot run on `dataset`, or None when it can."""
    spec = get_dataset(dataset)
    if method in PROMPTING_METHODS:
        from telepathy.baselines.prompt_templates import task_prompts

        try:
            task_prompts(spec)
        except ValueError as err:
            return str(err)
    if method == PROBE_METHOD and spec.label_names is None:
        return f"the linear probe needs class labels and {dataset} ({spec.task_type}) has none"
    return None
