"""The body of each `telepathy` subcommand: parse nothing, take the argparse namespace.

cli.py builds the parser and maps each subcommand here; the work itself lives in the modules
these functions call (train, evaluate, merge, plan, ...). Heavy imports stay inside the
functions so `telepathy --help` and the workflow's planning stay fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("telepathy")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in args.overrides:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        values[key.strip()] = value.strip()
    if args.soft_tokens is not None:
        values["soft_tokens"] = args.soft_tokens
    if args.source_layer is not None:
        values["source_layer"] = args.source_layer
    return values


def _resolve(args: argparse.Namespace):
    from telepathy.experiment.config import resolve_run_config

    return resolve_run_config(
        protocol=args.protocol,
        pair=args.pair,
        dataset=args.dataset,
        seed=args.seed,
        overrides=_overrides(args),
    )


def _local_files(args: argparse.Namespace):
    """Hand-copied dataset files named on prepare-data's command line, or None."""
    from telepathy.data import LocalFiles

    given = [args.data_format, args.data_train, args.data_eval]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("--data-format, --data-train and --data-eval must be given together")
    return LocalFiles(args.data_format, args.data_train, args.data_eval)


def _data_snapshot(args: argparse.Namespace, dataset: str):
    """The data snapshot named by --data, opened and checked to be `dataset`'s; or None."""
    if args.data is None:
        return None
    from telepathy.data import open_snapshot

    return open_snapshot(args.data, dataset)


def _setup_torch(args: argparse.Namespace):
    import torch

    from telepathy.models.lms import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def _load_train(cfg, data):
    """Training examples (generated tasks: cfg.train_size items from cfg.task_seed)."""
    from telepathy.data import get_dataset, load_examples

    spec = get_dataset(cfg.dataset)
    return load_examples(
        spec, "train", snapshot=data, n_generated=cfg.train_size, task_seed=cfg.task_seed
    )


def _load_eval(cfg, data):
    """The dataset spec, the recorded eval list and its description (pitfall 16)."""
    from telepathy.data import get_dataset, load_examples

    spec = get_dataset(cfg.dataset)
    evaluation = load_examples(spec, "eval", snapshot=data, task_seed=cfg.task_seed)
    if cfg.eval_first_n is not None:
        evaluation = evaluation[: cfg.eval_first_n]
    split = spec.hub.eval_split if spec.hub else "eval"
    selection = "all" if cfg.eval_first_n is None else f"first {cfg.eval_first_n}"
    return spec, evaluation, {"split": split, "selection": selection}


def _setup_run(cfg, args: argparse.Namespace, *, stage: str):
    """What train and eval share: the data snapshot, device, the recorded eval list, the
    loaded pair and the one Framing object (for `stage` "train" or "eval"). Returns
    (data, eval_examples, eval_desc, pair, framing)."""
    from telepathy.framing import Framing
    from telepathy.models.pair import load_pair

    data = _data_snapshot(args, cfg.dataset)
    device = _setup_torch(args)
    spec, eval_examples, eval_desc = _load_eval(cfg, data)
    pair = load_pair(cfg.pair, device, args.cache_dir, models=args.models)
    framing = Framing(cfg, spec, pair.sender.tokenizer, pair.receiver.tokenizer, stage=stage)
    return data, eval_examples, eval_desc, pair, framing


# ----------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
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


def cmd_resolve_config(args: argparse.Namespace) -> int:
    from telepathy.results.atomic import atomic_write_json

    cfg = _resolve(args)
    payload = {**cfg.to_dict(), "config_sha256": cfg.digest()}
    if args.output:
        atomic_write_json(args.output, payload)
    else:
        print(json.dumps(payload, indent=2))
    return 0


def cmd_prepare_models(args: argparse.Namespace) -> int:
    from telepathy.experiment.pairs import get_pair
    from telepathy.models.lms import default_cache_root, prepare_model
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


def cmd_train(args: argparse.Namespace) -> int:
    from telepathy.data.snapshot import data_provenance
    from telepathy.results.checkpoint import save_checkpoint
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import build_record, write_record
    from telepathy.train import final_bridge_state, train_bridge

    started_at, clock = utc_now(), time.perf_counter()
    cfg = _resolve(args)  # every setting checked before any model or data is loaded
    data, eval_examples, _, pair, framing = _setup_run(cfg, args, stage="train")
    train_examples = _load_train(cfg, data)
    load_s = time.perf_counter() - clock
    outcome = train_bridge(
        cfg,
        pair,
        framing,
        train_examples,
        eval_examples[: cfg.quick_eval_n],
        checkpoint_path=args.checkpoint,
        metrics_path=args.metrics,
        resume=args.resume,
        progress=not args.no_progress,
    )
    save_checkpoint(args.bridge, final_bridge_state(cfg, pair, outcome))
    record = build_record(
        kind="train",
        cfg=cfg,
        pair=pair,
        bridge=outcome.bridge,
        hyperparameters={
            **cfg.to_dict(),
            "framing": framing.describe(),
            "output_scale_init": outcome.output_scale_init,
            "receiver_embedding_median_rms": outcome.embedding_rms,
            "bridge_shape": vars(outcome.bridge.shape),
            "n_train_examples": len(train_examples),
        },
        metrics={
            "steps_completed": outcome.steps_completed,
            "final_loss": outcome.final["loss"],
            "final_lm_loss": outcome.final["lm_loss"],
            "final_batch_similarity": outcome.final["batch_similarity"],
            "final_pre_norm_variance": outcome.final["pre_norm_var"],
            "final_output_scale": outcome.final["output_scale"],
            "restarts": outcome.restarts,
            # the full quick-eval curve is in the metrics JSONL; the last point is kept here
            **(
                {"last_quick_eval_accuracy": outcome.quick_evals[-1]["accuracy"]}
                if outcome.quick_evals
                else {}
            ),
        },
        timings={
            "wall_s": time.perf_counter() - clock,
            "load_s": load_s,
            "train_s": outcome.train_wall_s,
            "mean_step_s": outcome.mean_step_s,
            "sender_load_s": pair.sender.load_seconds,
            "receiver_load_s": pair.receiver.load_seconds,
        },
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, data),
        extra={"artifacts": {"bridge": str(args.bridge), "metrics": str(args.metrics)}},
    )
    write_record(args.result, record)
    log.info(
        "trained %s: %d steps, mean %.3f s/step",
        record["run_id"],
        outcome.steps_completed,
        outcome.mean_step_s,
    )
    return 0


@dataclass
class TrainedBridgeRun:
    """A final bridge file loaded for use: its state, config, eval list, pair and bridge."""

    state: dict[str, Any]
    cfg: Any  # RunConfig (imported lazily, see the module docstring)
    data: Any  # DataSnapshot or None (a generated task run without one)
    eval_examples: list[Any]
    eval_desc: dict[str, str]
    pair: Any  # LoadedPair
    framing: Any  # Framing
    bridge: Any  # Bridge, on the pair's device and the config's dtype


def load_trained_bridge(args: argparse.Namespace) -> TrainedBridgeRun:
    """What `eval` and `inspect-bridge` share: read --bridge, check it against --pair, load the
    pair and the recorded eval list, and rebuild the bridge from the file's own config."""
    from telepathy.experiment.config import RunConfig
    from telepathy.models.pair import build_bridge
    from telepathy.results.checkpoint import CheckpointError, check_matches, load_checkpoint

    state = load_checkpoint(args.bridge)
    if state.get("kind") != "bridge":
        raise CheckpointError(f"{args.bridge} is a {state.get('kind')!r} file, not a final bridge")
    cfg = RunConfig.from_dict(state["config"])
    if args.pair and args.pair != cfg.pair:
        raise CheckpointError(
            f"checkpoint {args.bridge} was trained for pair {cfg.pair!r}, --pair asks for "
            f"{args.pair!r}; evaluate it with its own pair or point --bridge at the right run"
        )
    data, eval_examples, eval_desc, pair, framing = _setup_run(cfg, args, stage="eval")
    check_matches(state, args.bridge, pair=pair.identity(), cfg=None)
    bridge = build_bridge(cfg, pair, state["output_scale_init"])
    bridge.load_state_dict(state["bridge"])
    return TrainedBridgeRun(state, cfg, data, eval_examples, eval_desc, pair, framing, bridge)


def cmd_eval(args: argparse.Namespace) -> int:
    from telepathy.data.snapshot import data_provenance
    from telepathy.evaluate import evaluate_examples
    from telepathy.parsing import PARSER_DESCRIPTION
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import build_record, log_eval_summary, write_record
    from telepathy.results.validate import ids_digest

    started_at, clock = utc_now(), time.perf_counter()
    run = load_trained_bridge(args)
    state, cfg, eval_examples, eval_desc = run.state, run.cfg, run.eval_examples, run.eval_desc
    pair, framing, bridge = run.pair, run.framing, run.bridge
    load_s = time.perf_counter() - clock
    report = evaluate_examples(
        bridge,
        pair,
        framing,
        eval_examples,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    ids = [s["id"] for s in report.samples]
    record = build_record(
        kind="eval",
        cfg=cfg,
        pair=pair,
        bridge=bridge,
        hyperparameters={
            **cfg.to_dict(),
            "framing": framing.describe(),
            "eval_batch_size": args.batch_size,
            "output_scale_init": state["output_scale_init"],
            "trained_steps": state["step"],
            "decoding": f"greedy, max_new_tokens={cfg.max_new_tokens}",
            "parser": PARSER_DESCRIPTION,
        },
        metrics={**report.metrics, "eval_s": report.eval_s},
        timings={"wall_s": time.perf_counter() - clock, "load_s": load_s, "eval_s": report.eval_s},
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, run.data),
        extra={
            "eval_examples": {**eval_desc, "n": len(ids), "ids_sha256": ids_digest(ids)},
            "samples": report.samples,
            "artifacts": {"bridge": str(args.bridge)},
        },
    )
    write_record(args.result, record)
    log_eval_summary(record["run_id"], report.metrics, report.eval_s)
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Prompting baselines; the body lives in telepathy.baselines.prompting."""
    from telepathy.baselines.prompting import run_baseline_command

    return run_baseline_command(
        args, data=_data_snapshot(args, args.dataset), device=_setup_torch(args)
    )


def cmd_prepare_data(args: argparse.Namespace) -> int:
    from telepathy.data import get_dataset, write_snapshot

    spec = get_dataset(args.dataset)
    started = time.perf_counter()
    manifest = write_snapshot(spec, args.snapshot, local=_local_files(args), revision=args.revision)
    source = manifest["source"]
    where = {
        "hub": lambda: (
            f"{source['repo_id']}@{source['revision']} (commit {source['revision_sha']})"
        ),
        "local": lambda: f"local {source['format']} files",
        "generated": lambda: f"generator {source['generator']}",
    }[source["kind"]]()
    splits = manifest["splits"]
    log.info(
        "%s: snapshot of %s in %.1f s: %d train and %d eval rows -> %s",
        spec.name,
        where,
        time.perf_counter() - started,
        splits["train"]["rows"],
        splits["eval"]["rows"],
        args.snapshot,
    )
    return 0


def cmd_merge_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from telepathy.results.atomic import atomic_write_text
    from telepathy.results.merge import (
        COLUMNS,
        baseline_row,
        check_identities,
        missing_runs,
        parse_baseline_spec,
        parse_run_spec,
        run_row,
    )
    from telepathy.results.validate import validate_file

    def load(path: Path) -> dict | None:
        if not path.exists():
            return None
        problems = validate_file(path)
        if problems:  # a malformed result is an error, never a silently dropped row
            raise ValueError(f"malformed result file: {'; '.join(problems)}")
        return json.loads(path.read_text())

    if not args.run and not args.baseline:
        raise ValueError("merge-runs needs at least one --run or --baseline")
    rows, loaded = [], []
    for spec in args.run:
        run = parse_run_spec(spec)
        train, evaluation = load(Path(run.train_result)), load(Path(run.eval_result))
        rows.append(run_row(run, train, evaluation))
        loaded += [(run.run_id, "train", Path(run.train_result), train)]
        loaded += [(run.run_id, "eval", Path(run.eval_result), evaluation)]
    for spec in args.baseline:
        baseline = parse_baseline_spec(spec)
        evaluation = load(Path(baseline.eval_result))
        rows.append(baseline_row(baseline, evaluation))
        loaded.append((baseline.run_id, "eval", Path(baseline.eval_result), evaluation))
    check_identities([item for item in loaded if item[3] is not None])
    missing = missing_runs(rows)
    for run_id in missing:
        log.warning("missing run: %s", run_id)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    atomic_write_text(args.output, table.to_csv(index=False))
    log.info(
        "%d runs, %d complete, %d missing -> %s",
        len(rows),
        len(rows) - len(missing),
        len(missing),
        args.output,
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from snakemake_executor_plugin_submitit.plan import format_plan, plan_from_dry_run, run_dry_run
    from telepathy.results.atomic import atomic_write_json

    text = args.dry_run_log.read_text() if args.dry_run_log else run_dry_run(args.snakemake_args)
    plan = plan_from_dry_run(text)
    print(format_plan(plan))
    if args.json:
        atomic_write_json(args.json, plan)
    return 0


def cmd_gpu_usage(args: argparse.Namespace) -> int:
    from snakemake_executor_plugin_submitit.accounting import (
        format_usage,
        parse_sacct,
        read_submissions,
        run_sacct,
        summarise_usage,
    )
    from telepathy.results.atomic import atomic_write_json, atomic_write_text

    if (args.job_ids and args.sacct_output) or not (
        args.job_ids or args.sacct_output or args.submissions
    ):
        raise ValueError(
            "give one of --job-ids ID [ID ...], --submissions FILE (the executor plugin's "
            ".snakemake/submitit/submissions.jsonl), or --sacct-output FILE (optionally with "
            "--submissions to name array tasks)"
        )
    submissions = read_submissions(args.submissions) if args.submissions else {}
    if args.sacct_output:
        text = args.sacct_output.read_text()
    else:
        job_ids = args.job_ids or list(submissions)
        if not job_ids:
            raise ValueError(f"{args.submissions} lists no submitted jobs")
        text = run_sacct(job_ids)
    plan = json.loads(args.plan.read_text()) if args.plan else None
    usage = summarise_usage(parse_sacct(text), submissions, plan)
    table = format_usage(usage)
    print(table)
    if args.json:
        atomic_write_json(args.json, usage)
    if args.table:
        atomic_write_text(args.table, table + "\n")
    return 0


def cmd_validate_results(args: argparse.Namespace) -> int:
    from telepathy.results.validate import check_results

    report, n_bad = check_results(args.paths)
    print(report)
    return 1 if n_bad else 0
