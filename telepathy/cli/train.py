"""Stage `train` (workflow/rules/train.smk): `telepathy train` trains one bridge, resumably,
and writes the final bridge, its training log and its train record."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from telepathy.cli.args import (
    Command,
    add_run_identity,
    add_runtime,
    add_sender_cache,
    data_snapshot,
    model_source,
    resolve_run,
    sender_caches,
)

log = logging.getLogger("telepathy")


def add_train(p: argparse.ArgumentParser) -> None:
    add_run_identity(p)
    add_runtime(p)
    add_sender_cache(p, "train, and eval for the quick evals")
    p.add_argument("--bridge", type=Path, required=True, help="output: final bridge (.pt)")
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="resumable training state (.pt); keep it out of declared outputs",
    )
    p.add_argument("--metrics", type=Path, required=True, help="output: JSONL training log")
    p.add_argument("--result", type=Path, required=True, help="output: train result JSON")
    p.add_argument(
        "--resume",
        default="auto",
        help="auto (continue from --checkpoint if present) | never | PATH",
    )


def run_train(args: argparse.Namespace) -> int:
    from telepathy.models.run_inputs import load_run_inputs
    from telepathy.results.bridge_records import train_record
    from telepathy.results.checkpoint import save_checkpoint
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import write_record
    from telepathy.train import final_bridge_state, train_bridge

    started_at, clock = utc_now(), time.perf_counter()
    cfg = resolve_run(args)  # every setting checked before any model or data is loaded
    data = data_snapshot(args, cfg.dataset)
    inputs = load_run_inputs(
        cfg,
        data,
        model_source(args),
        stage="train",
        with_train=True,
        sender_caches=sender_caches(args, ("train", "eval")),
    )
    load_s = time.perf_counter() - clock
    outcome = train_bridge(
        cfg,
        inputs.pair,
        inputs.framing,
        inputs.train_examples,
        inputs.eval_examples[: cfg.quick_eval_n],
        checkpoint_path=args.checkpoint,
        metrics_path=args.metrics,
        resume=args.resume,
        progress=not args.no_progress,
    )
    save_checkpoint(args.bridge, final_bridge_state(cfg, inputs.pair, outcome))
    record = train_record(
        cfg,
        inputs,
        outcome,
        artifacts={"bridge": args.bridge, "metrics": args.metrics},
        started_at=started_at,
        wall_s=time.perf_counter() - clock,
        load_s=load_s,
    )
    write_record(args.result, record)
    log.info(
        "trained %s: %d steps, mean %.3f s/step",
        record["run_id"],
        outcome.steps_completed,
        outcome.mean_step_s,
    )
    return 0


COMMANDS = (Command("train", "train a bridge and write its result JSON", add_train, run_train),)
