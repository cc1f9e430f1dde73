"""Command line: `telepathy <command>`; every command takes explicit input and output paths.

The workflow decides the file layout; commands never invent paths. Logs go to stderr. Exit
codes: 0 success, 1 error (the message says what to fix), 2 bad usage, 75 training interrupted
by a signal after checkpointing (rerun with --resume auto).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from telepathy.cli import commands

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: try again (resume)

log = logging.getLogger("telepathy")


# ----------------------------------------------------------------------------- shared arguments


def _add_run_identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default="dec2025", help="dec2025 | camera_ready | corrected")
    p.add_argument("--pair", required=True, help="model pair: paper | small | tiny")
    p.add_argument("--dataset", required=True, help="dataset name (telepathy list)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--soft-tokens", type=int, help="K, overrides the protocol's value")
    p.add_argument("--source-layer", type=int, help="sender hidden_states index")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any resolved setting (repeatable), e.g. --set steps=100 --set lr=1e-3",
    )


def _add_runtime(p: argparse.ArgumentParser) -> None:
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


def _add_local_files(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("hand-copied dataset files (instead of the hub)")
    data.add_argument("--data-format", choices=["json", "parquet", "save_to_disk"])
    data.add_argument("--data-train", type=Path)
    data.add_argument("--data-eval", type=Path)


# ----------------------------------------------------------------------------- prompting baselines


def _add_prompting_baseline(sub: argparse._SubParsersAction) -> None:
    """`telepathy baseline`: zero-shot, few-shot and text-relay prompting (no training)."""
    from telepathy.baselines.prompting_config import METHOD_CHOICES

    p = sub.add_parser(
        "baseline",
        help="run a prompting baseline (zero-shot, few-shot, text relay); write its eval JSON",
    )
    p.add_argument(
        "--method",
        required=True,
        choices=METHOD_CHOICES,
        help="few_shot = few_shot_receiver",
    )
    p.add_argument("--protocol", default="dec2025", help="dec2025 | camera_ready | corrected")
    p.add_argument("--pair", required=True, help="model pair: paper | small | tiny")
    p.add_argument("--dataset", required=True, help="dataset name (telepathy list)")
    p.add_argument("--seed", type=int, required=True, help="also draws the demonstrations")
    p.add_argument("--shots", type=int, help="k demonstrations for few_shot_* (default 5)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting (repeatable): shots, answer_max_new_tokens, "
        "summary_max_new_tokens, chat_template, input_max_tokens, truncate_field, "
        "eval_first_n, task_seed, train_size",
    )
    p.add_argument(
        "--result", "--out", dest="result", type=Path, required=True, help="output: eval JSON"
    )
    p.add_argument("--batch-size", type=int, default=16)
    _add_runtime(p)
    p.set_defaults(func=commands.cmd_baseline)


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telepathy", description="Latent bridges between frozen LMs (train, eval, ...)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list model pairs, datasets and protocols")
    p.set_defaults(func=commands.cmd_list)

    p = sub.add_parser("resolve-config", help="print or write the resolved settings of a run")
    _add_run_identity(p)
    p.add_argument("--output", type=Path, help="write JSON here instead of stdout")
    p.set_defaults(func=commands.cmd_resolve_config)

    p = sub.add_parser(
        "prepare-models",
        help="fetch (hub) or convert (GGUF -> safetensors) a pair's models; run on a CPU node",
    )
    p.add_argument("--pair", required=True)
    p.add_argument("--cache-dir", type=Path, help="model cache (default $TELEPATHY_CACHE)")
    p.add_argument("--manifest", type=Path, required=True, help="output: JSON manifest")
    p.set_defaults(func=commands.cmd_prepare_models)

    p = sub.add_parser("train", help="train a bridge and write its result JSON")
    _add_run_identity(p)
    _add_runtime(p)
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
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser("eval", help="evaluate a trained bridge and write its result JSON")
    p.add_argument("--bridge", type=Path, required=True, help="input: final bridge (.pt)")
    p.add_argument("--pair", help="assert the checkpoint belongs to this pair")
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    p.add_argument("--batch-size", type=int, default=16)
    _add_runtime(p)
    p.set_defaults(func=commands.cmd_eval)

    _add_prompting_baseline(sub)

    p = sub.add_parser(
        "prepare-data",
        help="write a dataset's snapshot (its split files at a resolved commit, and a manifest) "
        "from the hub or from hand-copied files; run where the hub is reachable",
    )
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
    _add_local_files(p)
    p.set_defaults(func=commands.cmd_prepare_data)

    p = sub.add_parser("merge-runs", help="merge run result JSONs into one CSV, missing marked")
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="PROTOCOL,PAIR,DATASET,ARCH,K,LAYER,SEED,STUDIES,TRAIN_JSON,EVAL_JSON",
        help="one expected bridge run (repeatable); STUDIES is +-joined (main+soft_tokens); "
        "absent files make the row 'missing'",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="PROTOCOL,METHOD,PAIR,DATASET,SEED,EVAL_JSON",
        help="one expected baseline run (repeatable)",
    )
    p.add_argument("--output", type=Path, required=True, help="output: CSV, one row per run")
    p.set_defaults(func=commands.cmd_merge_runs)

    p = sub.add_parser(
        "plan", help="job counts and GPU-hours requested per rule, from a Snakemake dry run"
    )
    p.add_argument("--dry-run-log", type=Path, help="saved `snakemake -n` output to read")
    p.add_argument("--json", type=Path, help="also write the plan as JSON here")
    p.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="arguments for `snakemake -n` (after --), e.g. -- all_paper_tables",
    )
    p.set_defaults(func=commands.cmd_plan)

    p = sub.add_parser(
        "gpu-usage", help="GPU-hours used per rule and dataset from sacct, requeues included"
    )
    p.add_argument("--job-ids", nargs="+", help="SLURM job ids to query with sacct")
    p.add_argument(
        "--sacct-output",
        type=Path,
        help="saved `sacct -X --duplicates --parsable2 --noheader` output instead",
    )
    p.add_argument(
        "--submissions",
        type=Path,
        help="the executor plugin's .snakemake/submitit/submissions.jsonl: which jobs, their "
        "rule and wildcards (also for array tasks) and what each asked for",
    )
    p.add_argument("--plan", type=Path, help="`telepathy plan --json` output: planned GPU-hours")
    p.add_argument("--json", type=Path, help="also write the usage as JSON here")
    p.add_argument("--table", type=Path, help="also write the text table here")
    p.set_defaults(func=commands.cmd_gpu_usage)

    # ----- trained baselines and controls (telepathy/baselines): train-baseline, eval-noise, probe
    from telepathy.baselines.commands import add_baseline_commands

    add_baseline_commands(sub, _add_run_identity, _add_runtime)
    # ----- end of trained baselines and controls

    # ----- the report: merged tables, the paper's tables (telepathy/report)
    from telepathy.report.commands import add_report_commands

    add_report_commands(sub)
    # ----- end of the report

    p = sub.add_parser("validate-results", help="check result JSON files against the schema")
    p.add_argument("paths", nargs="+", type=Path, help="files or directories")
    p.set_defaults(func=commands.cmd_validate_results)

    # --- benchmark-latency (body and options in telepathy/latency_command.py) ---
    from telepathy.cli import latency as latency_command

    latency_command.add_parser(sub, add_runtime=_add_runtime)
    # --- end benchmark-latency ---

    # --- figures: inspect-bridge and figure (bodies in telepathy/inspect_bridge.py and
    # telepathy/report/figure_command.py, imported when the command runs) ---
    def _run_inspect_bridge(args: argparse.Namespace) -> int:
        from telepathy.inspect_bridge import cmd_inspect_bridge  # torch: only when it runs

        return cmd_inspect_bridge(args)

    def _run_figure(args: argparse.Namespace) -> int:
        from telepathy.report.figure_command import cmd_figure  # matplotlib: only when it runs

        return cmd_figure(args)

    p = sub.add_parser(
        "inspect-bridge",
        help="soft tokens (and Perceiver cross-attention) of a trained bridge on eval items, "
        "to an .npz for the figures",
    )
    p.add_argument("--bridge", type=Path, required=True, help="input: final bridge (.pt)")
    p.add_argument("--pair", help="assert the checkpoint belongs to this pair")
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
    p.add_argument("--batch-size", type=int, default=16)
    _add_runtime(p)
    p.set_defaults(func=_run_inspect_bridge)

    p = sub.add_parser("figure", help="draw one paper figure to a PDF and a PNG")
    p.add_argument(
        "name",
        choices=[
            "token_ablation",
            "training_curves",
            "latency_breakdown",
            "soft_token_projection",
            "attention_maps",
        ],
    )
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
    p.set_defaults(func=_run_figure)
    # --- end figures ---
    return parser


# The commands that may reach the hub; every other command runs offline by construction.
ONLINE_COMMANDS = ("prepare-models", "prepare-data")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn any error into a message and an exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from telepathy.train import TrainingInterrupted

    # prepare-data from hand-copied files needs no hub either (and `datasets` would otherwise
    # ping S3 for a download counter on every local load, 3 s each without a route out).
    offline = args.command not in ONLINE_COMMANDS or getattr(args, "data_format", None)
    try:
        with _offline(bool(offline)):
            return args.func(args)
    except TrainingInterrupted as err:
        log.warning("%s", err)
        return EXIT_INTERRUPTED
    except Exception as err:  # the one broad catch: turn errors into an exit code
        if args.verbose:
            log.exception("failed")
        log.error("%s: %s", type(err).__name__, err)
        return 1


@contextlib.contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Jobs read prepared snapshots only: with the hub's offline flags set, a stray hub call
    fails at once instead of spending ~25 s in retries on a node without a route out. Set
    before huggingface_hub is imported (it reads them then); the workflow sets them too.
    Restored afterwards, for callers that run several commands in one process (the tests)."""
    saved = {name: os.environ.get(name) for name in OFFLINE_ENV}
    if enabled:
        os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
