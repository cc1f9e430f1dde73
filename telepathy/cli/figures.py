"""Stage `figures` (workflow/rules/figures.smk): `inspect-bridge` records a trained bridge's soft
tokens (and Perceiver cross-attention) on eval items, and `figure` draws one paper figure."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from telepathy.cli.args import Command, add_batch_size, add_runtime, check_batch_size
from telepathy.cli.evaluate import add_bridge_input, load_bridge_run

log = logging.getLogger("telepathy")


def add_inspect_bridge(p: argparse.ArgumentParser) -> None:
    add_bridge_input(p)
    p.add_argument("--output", type=Path, required=True, help="output: .npz")
    p.add_argument(
        "--max-items", type=int, default=200, help="first N items of the recorded eval list"
    )
    p.add_argument(
        "--attention-items",
        type=int,
        default=4,
        help="keep the cross-attention of the first N items (perceiver only)",
    )
    add_batch_size(p)
    add_runtime(p)


def run_inspect_bridge(args: argparse.Namespace) -> int:
    from telepathy.inspect_bridge import inspect_trained_bridge
    from telepathy.results.atomic import atomic_write_npz

    if args.max_items < 1 or args.attention_items < 0:
        raise ValueError(
            f"--max-items must be >= 1 and --attention-items >= 0, got {args.max_items} and "
            f"{args.attention_items}"
        )
    check_batch_size(args)
    run = load_bridge_run(args)
    arrays, summary = inspect_trained_bridge(
        run,
        max_items=args.max_items,
        attention_items=args.attention_items,
        batch_size=args.batch_size,
    )
    atomic_write_npz(args.output, arrays)
    log.info("%s -> %s", summary, args.output)
    return 0


def add_figure(p: argparse.ArgumentParser) -> None:
    from telepathy.grid.products import FIGURE_NAMES

    p.add_argument("name", choices=FIGURE_NAMES)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--runs", nargs="+", type=Path, help="merged run tables (token_ablation, training_curves)"
    )
    source.add_argument("--latency", nargs="+", type=Path, help="latency JSONs (latency_breakdown)")
    source.add_argument(
        "--inspect",
        nargs="+",
        type=Path,
        help="inspect-bridge .npz files (soft_token_projection; attention_maps takes one)",
    )
    p.add_argument("--pdf", type=Path, required=True, help="output: the figure for the paper")
    p.add_argument("--png", type=Path, required=True, help="output: the figure for the report")


def run_figure(args: argparse.Namespace) -> int:
    """Figure `args.name` from the one input option it reads; writes --pdf and --png."""
    from telepathy.report.figure_builders import FIGURE_INPUTS, build_figure, save_figure

    fig = build_figure(args.name, getattr(args, FIGURE_INPUTS[args.name]) or [])
    save_figure(fig, args.pdf, args.png)
    log.info("figure %s -> %s, %s", args.name, args.pdf, args.png)
    return 0


COMMANDS = (
    Command(
        "inspect-bridge",
        "soft tokens (and Perceiver cross-attention) of a trained bridge on eval items, "
        "to an .npz for the figures",
        add_inspect_bridge,
        run_inspect_bridge,
    ),
    Command("figure", "draw one paper figure to a PDF and a PNG", add_figure, run_figure),
)
