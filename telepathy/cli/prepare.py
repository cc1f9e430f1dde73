"""Stage `prepare` (workflow/rules/prepare.smk): `prepare-models` and `prepare-data`, the two
commands that may reach the hub; `cache-sender-states`, the frozen sender's states computed once
for every bridge job that reads them; and `list` and `resolve-config`, which show what a run
would be made of before anything is prepared."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from telepathy.cli.args import (
    Command,
    add_batch_size,
    add_run_identity,
    add_runtime,
    check_batch_size,
    data_snapshot,
    model_source,
    resolve_run,
)

log = logging.getLogger("telepathy")


def run_list(args: argparse.Namespace) -> int:
    from telepathy.data import DATASETS
    from telepathy.experiment.pairs import PAIRS
    from telepathy.experiment.protocols import PROTOCOLS

    listing = {
        "pairs": {n: p.description for n, p in PAIRS.items()},
        "datasets": {n: d.description for n, d in DATASETS.items()},
        "protocols": {n: p.description for n, p in PROTOCOLS.items()},
    }
    print(json.dumps(listing, indent=2))
    return 0


def add_resolve_config(p: argparse.ArgumentParser) -> None:
    add_run_identity(p)
    p.add_argument("--output", type=Path, help="write JSON here instead of stdout")


def run_resolve_config(args: argparse.Namespace) -> int:
    from telepathy.results.atomic import atomic_write_json

    cfg = resolve_run(args)
    payload = {**cfg.to_dict(), "config_sha256": cfg.digest()}
    if args.output:
        atomic_write_json(args.output, payload)
    else:
        print(json.dumps(payload, indent=2))
    return 0


def add_prepare_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pair", required=True)
    p.add_argument("--cache-dir", type=Path, help="model cache (default $TELEPATHY_CACHE)")
    p.add_argument("--manifest", type=Path, required=True, help="output: JSON manifest")


def run_prepare_models(args: argparse.Namespace) -> int:
    from telepathy.experiment.pairs import get_pair
    from telepathy.models.lms import default_cache_root
    from telepathy.models.prepare import prepare_model
    from telepathy.results.atomic import atomic_write_json

    pair = get_pair(args.pair)
    cache_root = args.cache_dir or default_cache_root()
    manifest = {"pair": pair.name, "cache_dir": str(cache_root), "models": {}}
    for role, spec in (("sender", pair.sender), ("receiver", pair.receiver)):
        started = time.perf_counter()
        manifest["models"][role] = prepare_model(spec, cache_root, pair_name=pair.name)
        log.info("%s %s ready in %.1f s", role, spec.key, time.perf_counter() - started)
    atomic_write_json(args.manifest, manifest)
    return 0


def add_prepare_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--snapshot",
        type=Path,
        required=True,
        help="output folder: snapshot.json and files/ (on a file system every node sees)",
    )
    p.add_argument(
        "--revision",
        help="hub branch, tag or commit to snapshot (default: the registry's, e.g. main or "
        "refs/convert/parquet)",
    )
    data = p.add_argument_group("hand-copied dataset files (instead of the hub)")
    data.add_argument("--data-format", choices=["json", "parquet", "save_to_disk"])
    data.add_argument("--data-train", type=Path)
    data.add_argument("--data-eval", type=Path)


def local_files(args: argparse.Namespace):
    """Hand-copied dataset files named on prepare-data's command line, or None."""
    from telepathy.data import LocalFiles

    given = [args.data_format, args.data_train, args.data_eval]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("--data-format, --data-train and --data-eval must be given together")
    return LocalFiles(args.data_format, args.data_train, args.data_eval)


def run_prepare_data(args: argparse.Namespace) -> int:
    from telepathy.data import get_dataset, write_snapshot
    from telepathy.data.snapshot import describe_source

    spec = get_dataset(args.dataset)
    started = time.perf_counter()
    manifest = write_snapshot(spec, args.snapshot, local=local_files(args), revision=args.revision)
    splits = manifest["splits"]
    log.info(
        "%s: snapshot of %s in %.1f s: %d train and %d eval rows -> %s",
        spec.name,
        describe_source(manifest["source"]),
        time.perf_counter() - started,
        splits["train"]["rows"],
        splits["eval"]["rows"],
        args.snapshot,
    )
    return 0


def add_cache_sender_states(p: argparse.ArgumentParser) -> None:
    add_run_identity(p)
    p.add_argument("--split", choices=["train", "eval"], required=True, help="which examples")
    p.add_argument(
        "--stage",
        choices=["train", "eval"],
        required=True,
        help="the framing the readers use (train: training and its quick evals; eval)",
    )
    p.add_argument("--output", type=Path, required=True, help="output: .safetensors file")
    add_batch_size(p, "sender batch size")
    add_runtime(p)


def run_cache_sender_states(args: argparse.Namespace) -> int:
    from telepathy.models.run_inputs import load_run_inputs
    from telepathy.models.sender_source import build_sender_cache

    started = time.perf_counter()
    cfg = resolve_run(args)
    check_batch_size(args)
    data = data_snapshot(args, cfg.dataset)
    inputs = load_run_inputs(
        cfg,
        data,
        model_source(args),
        stage=args.stage,
        roles=("sender",),
        with_train=args.split == "train",
    )
    examples = inputs.train_examples if args.split == "train" else inputs.eval_examples
    build_sender_cache(
        args.output,
        inputs.pair.sender,
        inputs.framing,
        examples,
        split=args.split,
        batch_size=args.batch_size,
        progress_bar=not args.no_progress,
    )
    log.info(
        "%s %s: sender states at layer %d of %d examples in %.1f s -> %s",
        cfg.dataset,
        args.split,
        cfg.source_layer,
        len(examples),
        time.perf_counter() - started,
        args.output,
    )
    return 0


COMMANDS = (
    Command("list", "list model pairs, datasets and protocols", lambda p: None, run_list),
    Command(
        "resolve-config",
        "print or write the resolved settings of a run",
        add_resolve_config,
        run_resolve_config,
    ),
    Command(
        "prepare-models",
        "fetch (hub) or convert (GGUF -> safetensors) a pair's models; run on a CPU node",
        add_prepare_models,
        run_prepare_models,
        online=True,
    ),
    Command(
        "prepare-data",
        "write a dataset's snapshot (its split files at a resolved commit, and a manifest) "
        "from the hub or from hand-copied files; run where the hub is reachable",
        add_prepare_data,
        run_prepare_data,
        online=True,
    ),
    Command(
        "cache-sender-states",
        "the frozen sender's states of a split at the source layer, once, for every bridge job",
        add_cache_sender_states,
        run_cache_sender_states,
    ),
)
