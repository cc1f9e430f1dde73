"""Stage `evaluate` (workflow/rules/evaluate.smk): `telepathy eval` evaluates a trained bridge
on the recorded eval list and writes its eval record, with every item's sample."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from telepathy.cli.args import (
    PAIR_HELP,
    Command,
    add_batch_size,
    add_runtime,
    add_sender_cache,
    check_batch_size,
    model_source,
    sender_caches,
)


def add_bridge_input(p: argparse.ArgumentParser) -> None:
    """--bridge and --pair, as `eval` and `inspect-bridge` take them."""
    p.add_argument("--bridge", type=Path, required=True, help="input: final bridge (.pt)")
    p.add_argument("--pair", help=f"assert the checkpoint belongs to this pair ({PAIR_HELP})")


def load_bridge_run(args: argparse.Namespace):
    """The trained bridge named by --bridge with its pair and inputs (run_inputs)."""
    from telepathy.models.run_inputs import load_trained_bridge

    return load_trained_bridge(
        args.bridge,
        expected_pair=args.pair,
        data_path=args.data,
        models=model_source(args),
        sender_caches=sender_caches(args, ("eval",)) if "sender_cache" in args else None,
    )


def add_eval(p: argparse.ArgumentParser) -> None:
    add_bridge_input(p)
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    add_batch_size(p)
    add_runtime(p)
    add_sender_cache(p, "eval")


def run_eval(args: argparse.Namespace) -> int:
    from telepathy.evaluate import evaluate_examples
    from telepathy.results.bridge_records import eval_record
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import log_eval_summary, write_record

    started_at, clock = utc_now(), time.perf_counter()
    check_batch_size(args)
    run = load_bridge_run(args)
    load_s = time.perf_counter() - clock
    report = evaluate_examples(
        run.bridge,
        run.inputs.pair,
        run.inputs.framing,
        run.inputs.eval_examples,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    record = eval_record(
        run,
        report,
        batch_size=args.batch_size,
        started_at=started_at,
        wall_s=time.perf_counter() - clock,
        load_s=load_s,
    )
    write_record(args.result, record)
    log_eval_summary(record["run_id"], report.metrics, report.eval_s)
    return 0


COMMANDS = (
    Command("eval", "evaluate a trained bridge and write its result JSON", add_eval, run_eval),
)
