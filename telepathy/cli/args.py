"""What every stage's commands share: the `Command` table entry, the option groups several
commands take, and the readers that turn parsed options into the values the library takes.

Only `telepathy/cli/` parses arguments; the library never sees an argparse namespace.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOL_HELP = "dec2025 | camera_ready | corrected"
PAIR_HELP = "model pair: paper | small | tiny"


@dataclass(frozen=True)
class Command:
    """One `telepathy` subcommand: its name, its one-line help, the options it takes and the
    function that runs it (returns the exit code). `online` commands may reach the hub."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    online: bool = False


# ----------------------------------------------------------------------------- option groups


def add_set_option(p: argparse.ArgumentParser, help_text: str | None = None) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text
        or "override any resolved setting (repeatable), e.g. --set steps=100 --set lr=1e-3",
    )


def add_run_identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default="dec2025", help=PROTOCOL_HELP)
    p.add_argument("--pair", required=True, help=PAIR_HELP)
    p.add_argument("--dataset", required=True, help="dataset name (telepathy list)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--soft-tokens", type=int, help="K, overrides the protocol's value")
    p.add_argument("--source-layer", type=int, help="sender hidden_states index")
    add_set_option(p)


def add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--cache-dir", type=Path, help="model cache (default $TELEPATHY_CACHE)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    inputs = p.add_argument_group("prepared inputs (jobs read only these, never the hub)")
    inputs.add_argument(
        "--data",
        type=Path,
        metavar="SNAPSHOT",
        help="the dataset's snapshot (folder or its snapshot.json) from `telepathy "
        "prepare-data`; required for hub datasets, optional for generated ones",
    )
    inputs.add_argument(
        "--models",
        type=Path,
        metavar="MANIFEST",
        help="the pair's manifest from `telepathy prepare-models`: each model loads from the "
        "folder it records (default: where prepare-models puts them)",
    )


def add_sender_cache(p: argparse.ArgumentParser, splits: str) -> None:
    """--sender-cache [SPLIT=]PATH ...: the sender's states read from `telepathy
    cache-sender-states` files instead of the sender, which the job then never loads."""
    p.add_argument(
        "--sender-cache",
        action="extend",
        nargs="*",
        default=[],
        metavar="[SPLIT=]PATH",
        help=f"the sender's states of a split from `telepathy cache-sender-states` ({splits}; "
        "without SPLIT= the file's own record names it); with it the sender is not loaded",
    )


# Rows per generation batch when --batch-size is not given. On a GPU, the original's 16. On a
# CPU, generation is bound by reading the output head once per new token (Gemma-3's 262k x 640
# fp32 head is 671 MB): the small pair's text relay (200 items, 50 summary tokens) summarised in
# 188 s at 16 rows, 111 s at 48 and 89 s at 128 on one thread, with the same accuracy.
EVAL_BATCH_SIZE = {"cuda": 16, "cpu": 128}


def add_batch_size(p: argparse.ArgumentParser, help_text: str = "eval batch size") -> None:
    defaults = ", ".join(f"{n} on {d}" for d, n in EVAL_BATCH_SIZE.items())
    p.add_argument("--batch-size", type=int, default=None, help=f"{help_text} ({defaults})")


# ----------------------------------------------------------------------------- readers


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """`--set KEY=VALUE` arguments as a dict (types are coerced during resolution)."""
    values: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def sender_caches(args: argparse.Namespace, allowed: Sequence[str]) -> dict[str, Path] | None:
    """--sender-cache [SPLIT=]PATH arguments by split, or None when none were given. A bare
    PATH's split is the one its cache file records (the workflow passes its input files so)."""
    caches: dict[str, Path] = {}
    for item in args.sender_cache:
        split, sep, path = item.partition("=")
        if not sep:
            from telepathy.results.sender_cache import open_sender_cache

            path = item
            split = str(open_sender_cache(Path(item), {}).key.get("split"))
        if split not in allowed or split in caches:
            raise ValueError(
                f"--sender-cache expects [SPLIT=]PATH once per split, SPLIT one of "
                f"{', '.join(allowed)}; got {item!r}"
                + ("" if sep else f" (a cache of the {split!r} split)")
            )
        caches[split] = Path(path)
    return caches or None


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """--set values plus the --soft-tokens and --source-layer shorthands."""
    values: dict[str, Any] = dict(parse_overrides(args.overrides))
    if args.soft_tokens is not None:
        values["soft_tokens"] = args.soft_tokens
    if args.source_layer is not None:
        values["source_layer"] = args.source_layer
    return values


def resolve_run(args: argparse.Namespace):
    """The run's RunConfig from --protocol/--pair/--dataset/--seed and the overrides; every
    setting is checked here, before any model or data loads."""
    from telepathy.experiment.config import resolve_run_config

    return resolve_run_config(
        protocol=args.protocol,
        pair=args.pair,
        dataset=args.dataset,
        seed=args.seed,
        overrides=run_overrides(args),
    )


def data_snapshot(args: argparse.Namespace, dataset: str):
    """The data snapshot named by --data, opened and checked to be `dataset`'s; or None."""
    if args.data is None:
        return None
    from telepathy.data import open_snapshot

    return open_snapshot(args.data, dataset)


def model_source(args: argparse.Namespace):
    """--device (after --threads is applied), --cache-dir and --models, as a ModelSource."""
    import torch

    from telepathy.models.lms import pick_device
    from telepathy.models.run_inputs import ModelSource

    if args.threads:
        torch.set_num_threads(args.threads)
    return ModelSource(pick_device(args.device), args.cache_dir, args.models)


def check_batch_size(args: argparse.Namespace) -> None:
    """Check --batch-size, or set it to the default for the run's device (EVAL_BATCH_SIZE)."""
    if args.batch_size is None:
        from telepathy.models.lms import pick_device

        device = pick_device(args.device).type
        # another accelerator (mps, xpu) takes the GPU's: the original's batch, not a CPU's
        args.batch_size = EVAL_BATCH_SIZE.get(device, EVAL_BATCH_SIZE["cuda"])
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
