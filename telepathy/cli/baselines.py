"""Stage `baselines` (workflow/rules/baselines.smk): the prompting baselines (`baseline`), the
trained baselines (`train-baseline`) and the two controls (`eval-noise`, `probe`).

Every option is checked before any data or model loads; the jobs themselves are
`baselines.prompting.run_prompting_baseline` and `baselines.trained_runs`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from telepathy.cli.args import (
    PAIR_HELP,
    PROTOCOL_HELP,
    Command,
    add_batch_size,
    add_run_identity,
    add_runtime,
    add_set_option,
    check_batch_size,
    data_snapshot,
    model_source,
    parse_overrides,
    resolve_run,
)
from telepathy.experiment.methods import TRAINED_METHODS


def add_baseline(p: argparse.ArgumentParser) -> None:
    from telepathy.baselines.prompting_config import METHOD_CHOICES  # the methods and aliases

    p.add_argument(
        "--method", required=True, choices=METHOD_CHOICES, help="few_shot = few_shot_receiver"
    )
    p.add_argument("--protocol", default="dec2025", help=PROTOCOL_HELP)
    p.add_argument("--pair", required=True, help=PAIR_HELP)
    p.add_argument("--dataset", required=True, help="dataset name (telepathy list)")
    p.add_argument("--seed", type=int, required=True, help="also draws the demonstrations")
    p.add_argument("--shots", type=int, help="k demonstrations for few_shot_* (default 5)")
    add_set_option(
        p,
        "override a setting (repeatable): shots, answer_max_new_tokens, "
        "summary_max_new_tokens, chat_template, input_max_tokens, truncate_field, "
        "eval_first_n, task_seed, train_size",
    )
    p.add_argument(
        "--result", "--out", dest="result", type=Path, required=True, help="output: eval JSON"
    )
    add_batch_size(p)
    add_runtime(p)


def run_baseline(args: argparse.Namespace) -> int:
    from telepathy.baselines.prompting import run_prompting_baseline
    from telepathy.baselines.prompting_config import resolve_prompting_config
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import log_eval_summary, write_record

    started_at = utc_now()
    check_batch_size(args)
    cfg = resolve_prompting_config(
        method=args.method,
        protocol=args.protocol,
        pair=args.pair,
        dataset=args.dataset,
        seed=args.seed,
        shots=args.shots,
        overrides=parse_overrides(args.overrides),
    )
    data = data_snapshot(args, cfg.dataset)
    record = run_prompting_baseline(
        cfg,
        data,
        model_source(args),
        batch_size=args.batch_size,
        progress=not args.no_progress,
        started_at=started_at,
    )
    write_record(args.result, record)
    log_eval_summary(record["run_id"], record["metrics"], record["timings"]["wall_s"])
    return 0


def add_train_baseline(p: argparse.ArgumentParser) -> None:
    add_run_identity(p)
    add_runtime(p)
    p.add_argument("--method", required=True, choices=TRAINED_METHODS)
    p.add_argument("--checkpoint", type=Path, required=True, help="resumable training state")
    p.add_argument("--metrics", type=Path, required=True, help="output: JSONL training log")
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    p.add_argument("--resume", default="auto", help="auto | never | PATH (as `train`)")
    p.add_argument(
        "--lora-schedule",
        help="lora only: method (lr 1e-4, batch 4, 3 epochs on 2,000 items; default) | bridge "
        "(the run config's steps, lr and batch)",
    )
    add_batch_size(p)


def run_train_baseline(args: argparse.Namespace) -> int:
    from telepathy.baselines import trained_runs
    from telepathy.models.run_inputs import load_run_inputs
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = resolve_run(args)  # every setting checked before any model or data is loaded
    check_batch_size(args)
    schedule = trained_runs.lora_schedule_for(args.method, args.lora_schedule)
    if args.resume not in ("auto", "never") and not Path(args.resume).exists():
        raise ValueError(f"--resume {args.resume}: no such checkpoint; use auto, never or a file")
    data = data_snapshot(args, cfg.dataset)
    inputs = load_run_inputs(
        cfg, data, model_source(args), stage="train", roles=("receiver",), with_train=True
    )
    load_s = time.perf_counter() - clock
    job = trained_runs.TrainingJob(
        args.checkpoint, args.metrics, args.resume, args.batch_size, not args.no_progress
    )
    trained = trained_runs.train_and_evaluate(args.method, cfg, inputs, job, lora_schedule=schedule)
    loop = trained.outcome.loop
    result = trained_runs.BaselineResult(
        method=args.method,
        report=trained.report,
        hyperparameters=trained.hyperparameters,
        metrics=trained_runs.train_metrics(loop),
        timings={
            "wall_s": time.perf_counter() - clock,
            "load_s": load_s,
            "train_s": trained.outcome.train_wall_s,
            "mean_step_s": loop.mean_step_s,
            "receiver_load_s": inputs.pair.receiver.load_seconds,
        },
        method_trainable=trained.trainable,
        soft_tokens=trained.soft_tokens,
        source_layer=None,
        extra={"training_curve_path": str(args.metrics)},
    )
    return _write(args, cfg, inputs, result, started_at)


def add_control(p: argparse.ArgumentParser, batch_help: str = "eval batch size") -> None:
    add_run_identity(p)
    add_runtime(p)
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    add_batch_size(p, batch_help)


def run_eval_noise(args: argparse.Namespace) -> int:
    from telepathy.baselines import trained_runs
    from telepathy.baselines.noise import evaluate_noise
    from telepathy.models.pair import embedding_median_rms
    from telepathy.models.run_inputs import load_run_inputs
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = resolve_run(args)
    check_batch_size(args)
    data = data_snapshot(args, cfg.dataset)
    inputs = load_run_inputs(cfg, data, model_source(args), stage="eval", roles=("receiver",))
    load_s = time.perf_counter() - clock
    embedding_rms = embedding_median_rms(inputs.pair.receiver)
    rms = cfg.scale_init_factor * embedding_rms  # the bridge's s0
    report = evaluate_noise(
        inputs.pair,
        inputs.framing,
        inputs.eval_examples,
        rms=rms,
        seed=cfg.seed,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    result = trained_runs.BaselineResult(
        method="noise_soft_tokens",
        report=report,
        hyperparameters=trained_runs.noise_hyperparameters(inputs.framing, rms, embedding_rms),
        metrics={},
        timings={"wall_s": time.perf_counter() - clock, "load_s": load_s},
        method_trainable=0,
        soft_tokens=cfg.soft_tokens,
        source_layer=None,
    )
    return _write(args, cfg, inputs, result, started_at)


def run_probe(args: argparse.Namespace) -> int:
    from telepathy.baselines import trained_runs
    from telepathy.baselines.probe import probe_layers, probe_report
    from telepathy.baselines.probe import run_probe as fit_and_score_probe
    from telepathy.experiment.pairs import get_pair
    from telepathy.models.run_inputs import load_run_inputs
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = resolve_run(args)
    check_batch_size(args)
    trained_runs.check_probe_dataset(cfg.dataset)
    layers = probe_layers(cfg.source_layer, get_pair(cfg.pair).sender.n_layers)
    data = data_snapshot(args, cfg.dataset)
    inputs = load_run_inputs(
        cfg, data, model_source(args), stage="eval", roles=("sender",), with_train=True
    )
    load_s = time.perf_counter() - clock
    outcome = fit_and_score_probe(
        inputs.pair.sender,
        inputs.framing,
        inputs.train_examples,
        inputs.eval_examples,
        layers=layers,
        seed=cfg.seed,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    report, layer_metrics = probe_report(
        inputs.framing, inputs.eval_examples, outcome, cfg.source_layer
    )
    result = trained_runs.BaselineResult(
        method="linear_probe",
        report=report,
        hyperparameters=trained_runs.probe_hyperparameters(cfg, layers, outcome.n_train),
        metrics=layer_metrics,
        timings={
            "wall_s": time.perf_counter() - clock,
            "load_s": load_s,
            "extract_s": outcome.extract_s,
            "fit_s": outcome.fit_s,
            "sender_load_s": inputs.pair.sender.load_seconds,
        },
        method_trainable=outcome.n_parameters_per_probe,
        soft_tokens=None,
        source_layer=cfg.source_layer,
    )
    return _write(args, cfg, inputs, result, started_at)


def _write(args: argparse.Namespace, cfg, inputs, result, started_at) -> int:
    """Build, validate and write the eval record to --result; log its one-line summary."""
    from telepathy.baselines.trained_runs import baseline_eval_record
    from telepathy.results.run_record import log_eval_summary, write_record

    record = baseline_eval_record(
        cfg, inputs, result, batch_size=args.batch_size, started_at=started_at
    )
    write_record(args.result, record)
    log_eval_summary(record["run_id"], result.report.metrics, result.report.eval_s)
    return 0


COMMANDS = (
    Command(
        "baseline",
        "run a prompting baseline (zero-shot, few-shot, text relay); write its eval JSON",
        add_baseline,
        run_baseline,
    ),
    Command(
        "train-baseline",
        "train prompt tuning (control or with text) or LoRA on the receiver, then evaluate",
        add_train_baseline,
        run_train_baseline,
    ),
    Command(
        "eval-noise",
        "noise control: random soft tokens at the bridge's scale, evaluated",
        add_control,
        run_eval_noise,
    ),
    Command(
        "probe",
        "linear probe on sender states: per-layer accuracy, fit on train only",
        lambda p: add_control(p, "feature-extraction batch size"),
        run_probe,
    ),
)
