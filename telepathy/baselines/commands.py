"""CLI of the trained baselines and controls: `train-baseline`, `eval-noise` and `probe`.

Each command trains (when its method trains) and evaluates in one go, writing one eval record
with the bridge eval's metrics and per-item samples plus the training figures in metrics and
timings. One command rather than the bridge's train/eval pair: nothing else reads a baseline's
weights, so a separate artifact and a second model load would buy nothing; a job preempted
during evaluation reruns with --resume auto, finds the final checkpoint and only evaluates.

Every method loads only the LM it uses (prompt tuning, LoRA and noise the receiver; the probe
the sender): the other side's revision and parameter counts are recorded as null. All input
checks run before any data or model loads.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telepathy.cli.commands import _data_snapshot, _load_eval, _load_train, _resolve, _setup_torch
from telepathy.parsing import PARSER_DESCRIPTION

log = logging.getLogger("telepathy")

TRAINED_METHODS = ("prompt_tuning_control", "prompt_tuning", "lora")
CLASS_TASKS = ("classification", "multiple_choice")

AddArguments = Callable[[argparse.ArgumentParser], None]


def add_baseline_commands(
    sub: Any, add_run_identity: AddArguments, add_runtime: AddArguments
) -> None:
    """Register the subcommands on cli.py's subparsers, with its shared argument groups."""
    p = sub.add_parser(
        "train-baseline",
        help="train prompt tuning (control or with text) or LoRA on the receiver, then evaluate",
    )
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
    p.add_argument("--batch-size", type=int, default=16, help="eval batch size")
    p.set_defaults(func=cmd_train_baseline)

    p = sub.add_parser(
        "eval-noise", help="noise control: random soft tokens at the bridge's scale, evaluated"
    )
    add_run_identity(p)
    add_runtime(p)
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    p.add_argument("--batch-size", type=int, default=16, help="eval batch size")
    p.set_defaults(func=cmd_eval_noise)

    p = sub.add_parser(
        "probe", help="linear probe on sender states: per-layer accuracy, fit on train only"
    )
    add_run_identity(p)
    add_runtime(p)
    p.add_argument("--result", type=Path, required=True, help="output: eval result JSON")
    p.add_argument("--batch-size", type=int, default=16, help="feature-extraction batch size")
    p.set_defaults(func=cmd_probe)


# ----------------------------------------------------------------------------- checks


def _check_common(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")


def _check_train_args(args: argparse.Namespace) -> str | None:
    """Return the LoRA schedule name (None for other methods); raise on any bad value."""
    from telepathy.baselines.lora import LORA_SCHEDULES

    _check_common(args)
    if args.method != "lora":
        if args.lora_schedule is not None:
            raise ValueError(
                f"--lora-schedule {args.lora_schedule!r} applies to --method lora only, "
                f"not {args.method!r}; drop it"
            )
        schedule = None
    else:
        schedule = args.lora_schedule or "method"
        if schedule not in LORA_SCHEDULES:
            raise ValueError(
                f"--lora-schedule {schedule!r} is not one of {', '.join(LORA_SCHEDULES)}"
            )
    if args.resume not in ("auto", "never") and not Path(args.resume).exists():
        raise ValueError(f"--resume {args.resume}: no such checkpoint; use auto, never or a file")
    return schedule


# ----------------------------------------------------------------------------- setup and record


def _setup(cfg, args: argparse.Namespace, roles: tuple[str, ...], *, with_train: bool, stage: str):
    """Data first (cheap checks), then only the LMs in `roles` and the one Framing (for
    `stage`: "train" when the method trains, else "eval").

    Returns (data snapshot, train_examples or None, eval_examples, eval_desc, pair, framing).
    """
    from telepathy.framing import Framing
    from telepathy.models.pair import load_pair

    data = _data_snapshot(args, cfg.dataset)
    device = _setup_torch(args)
    spec, eval_examples, eval_desc = _load_eval(cfg, data)
    train_examples = _load_train(cfg, data) if with_train else None
    pair = load_pair(cfg.pair, device, args.cache_dir, roles=roles, models=args.models)
    framing = Framing(
        cfg,
        spec,
        pair.sender.tokenizer if pair.sender else None,
        pair.receiver.tokenizer if pair.receiver else None,
        stage=stage,
    )
    return data, train_examples, eval_examples, eval_desc, pair, framing


def _write_eval_record(
    args: argparse.Namespace,
    *,
    cfg,
    pair,
    method: str,
    report,
    eval_desc: dict[str, Any],
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    timings: dict[str, float],
    method_trainable: int,
    soft_tokens: int | None,
    source_layer: int | None,
    started_at,
    data,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from telepathy.data.snapshot import data_provenance
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import build_record, write_record
    from telepathy.results.validate import ids_digest

    ids = [s["id"] for s in report.samples]
    record = build_record(
        kind="eval",
        cfg=cfg,
        pair=pair,
        bridge=None,
        hyperparameters={
            **cfg.to_dict(),
            **hyperparameters,
            "eval_batch_size": args.batch_size,
            "decoding": f"greedy, max_new_tokens={cfg.max_new_tokens}",
            "parser": PARSER_DESCRIPTION,
        },
        metrics={**report.metrics, **metrics, "eval_s": report.eval_s},
        timings={**timings, "eval_s": report.eval_s},
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, data),
        method=method,
        method_trainable=method_trainable,
        extra={
            "soft_tokens": soft_tokens,
            "source_layer": source_layer,
            "eval_examples": {**eval_desc, "n": len(ids), "ids_sha256": ids_digest(ids)},
            "samples": report.samples,
            **(extra or {}),
        },
    )
    write_record(args.result, record)
    m = report.metrics
    log.info(
        "%s: accuracy %.4f (lenient %.4f), invalid %.3f on %d items",
        record["run_id"],
        m["accuracy"],
        m["accuracy_lenient"],
        m["invalid_rate"],
        m["n_examples"],
    )
    return record


def _train_metrics(loop) -> dict[str, float]:
    """The training figures of a baseline's eval record (numbers only, as the schema wants)."""
    return {
        "train_steps_completed": loop.steps_completed,
        "train_restarts": loop.restarts,
        "train_final_loss": loop.final["loss"],
        **(
            {"train_final_output_scale": loop.final["output_scale"]}
            if "output_scale" in loop.final
            else {}
        ),
        **(
            {"last_quick_eval_accuracy": loop.quick_evals[-1]["accuracy"]}
            if loop.quick_evals
            else {}
        ),
    }


# ----------------------------------------------------------------------------- commands


def cmd_train_baseline(args: argparse.Namespace) -> int:
    from telepathy.bridge import count_parameters
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = _resolve(args)  # every setting checked before any model or data is loaded
    lora_schedule_name = _check_train_args(args)
    data, train_examples, eval_examples, eval_desc, pair, framing = _setup(
        cfg, args, ("receiver",), with_train=True, stage="train"
    )
    final = framing.for_stage("eval")  # the final eval cuts the text as the bridge's eval
    load_s = time.perf_counter() - clock
    common = dict(
        checkpoint_path=args.checkpoint,
        metrics_path=args.metrics,
        resume=args.resume,
        progress=not args.no_progress,
    )
    quick = eval_examples[: cfg.quick_eval_n]
    eval_options = dict(batch_size=args.batch_size, progress=not args.no_progress)
    if args.method == "lora":
        from telepathy.baselines.lora import LoraSettings, describe_lora, evaluate_lora, train_lora

        settings = LoraSettings()
        outcome = train_lora(
            cfg,
            pair,
            framing,
            train_examples,
            quick,
            settings=settings,
            schedule_name=lora_schedule_name,
            **common,
        )
        report = evaluate_lora(outcome.model, final, eval_examples, **eval_options)
        trainable = sum(p.numel() for p in outcome.model.parameters() if p.requires_grad)
        method_hyper = {
            **describe_lora(framing, settings, outcome),
            "schedule_name": lora_schedule_name,
        }
        soft_tokens = None
    else:
        from telepathy.baselines.prompt_tuning import (
            describe_prompt_tuning,
            evaluate_prompt_tuning,
            train_prompt_tuning,
        )

        outcome = train_prompt_tuning(
            args.method, cfg, pair, framing, train_examples, quick, **common
        )
        report = evaluate_prompt_tuning(
            args.method, outcome.prompt, pair, final, eval_examples, **eval_options
        )
        trainable = count_parameters(outcome.prompt, trainable_only=True)
        method_hyper = {
            **describe_prompt_tuning(args.method, framing, outcome),
            "n_train_examples": len(train_examples),
        }
        soft_tokens = cfg.soft_tokens
    loop = outcome.loop
    _write_eval_record(
        args,
        cfg=cfg,
        pair=pair,
        method=args.method,
        report=report,
        eval_desc=eval_desc,
        hyperparameters=method_hyper,
        metrics=_train_metrics(loop),
        timings={
            "wall_s": time.perf_counter() - clock,
            "load_s": load_s,
            "train_s": outcome.train_wall_s,
            "mean_step_s": loop.mean_step_s,
            "receiver_load_s": pair.receiver.load_seconds,
        },
        method_trainable=trainable,
        soft_tokens=soft_tokens,
        source_layer=None,
        started_at=started_at,
        data=data,
        extra={"training_curve_path": str(args.metrics)},
    )
    return 0


def cmd_eval_noise(args: argparse.Namespace) -> int:
    from telepathy.baselines.noise import evaluate_noise
    from telepathy.models.pair import embedding_median_rms
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = _resolve(args)
    _check_common(args)
    data, _, eval_examples, eval_desc, pair, framing = _setup(
        cfg, args, ("receiver",), with_train=False, stage="eval"
    )
    load_s = time.perf_counter() - clock
    embedding_rms = embedding_median_rms(pair.receiver)
    rms = cfg.scale_init_factor * embedding_rms  # the bridge's s0
    report = evaluate_noise(
        pair,
        framing,
        eval_examples,
        rms=rms,
        seed=cfg.seed,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    _write_eval_record(
        args,
        cfg=cfg,
        pair=pair,
        method="noise_soft_tokens",
        report=report,
        eval_desc=eval_desc,
        hyperparameters={
            "framing": {
                **framing.describe(),
                "receiver_input": "primer ++ K noise vectors (the bridge's slot); no input text",
                "sender_template": None,
                "sender_truncation": None,
            },
            "noise": "N(0, I) per token rescaled to RMS = s0; one generator per (seed, item id)",
            "noise_token_rms": rms,
            "receiver_embedding_median_rms": embedding_rms,
        },
        metrics={},
        timings={"wall_s": time.perf_counter() - clock, "load_s": load_s},
        method_trainable=0,
        soft_tokens=cfg.soft_tokens,
        source_layer=None,
        started_at=started_at,
        data=data,
    )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from telepathy.baselines.probe import (
        LOGISTIC_C,
        LOGISTIC_MAX_ITER,
        TRAIN_FIRST_N,
        probe_layers,
        probe_report,
        run_probe,
    )
    from telepathy.data import get_dataset
    from telepathy.experiment.pairs import get_pair
    from telepathy.results.provenance import utc_now

    started_at, clock = utc_now(), time.perf_counter()
    cfg = _resolve(args)
    _check_common(args)
    spec = get_dataset(cfg.dataset)
    if spec.task_type not in CLASS_TASKS or spec.label_names is None:
        raise ValueError(
            f"the linear probe needs a dataset with classes; {cfg.dataset!r} is a "
            f"{spec.task_type} task; pick one of type {' or '.join(CLASS_TASKS)}"
        )
    layers = probe_layers(cfg.source_layer, get_pair(cfg.pair).sender.n_layers)
    data, train_examples, eval_examples, eval_desc, pair, framing = _setup(
        cfg, args, ("sender",), with_train=True, stage="eval"
    )
    load_s = time.perf_counter() - clock
    outcome = run_probe(
        pair.sender,
        framing,
        train_examples,
        eval_examples,
        layers=layers,
        seed=cfg.seed,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    report, layer_metrics = probe_report(framing, eval_examples, outcome, cfg.source_layer)
    _write_eval_record(
        args,
        cfg=cfg,
        pair=pair,
        method="linear_probe",
        report=report,
        eval_desc=eval_desc,
        hyperparameters={
            "probe_layers": layers,
            "reported_layer": cfg.source_layer,
            "pooling": "last non-pad token (right padding)",
            "normalisation": "per-row L2",
            "classifier": f"sklearn LogisticRegression(C={LOGISTIC_C}, "
            f"max_iter={LOGISTIC_MAX_ITER}, random_state=seed), lbfgs",
            "train_selection": f"first {TRAIN_FIRST_N} train examples",
            "n_train_examples": outcome.n_train,
            "sender_input": "the run's sender_template and truncation, as the bridge's sender",
            "sender_template": cfg.sender_template,
        },
        metrics=layer_metrics,
        timings={
            "wall_s": time.perf_counter() - clock,
            "load_s": load_s,
            "extract_s": outcome.extract_s,
            "fit_s": outcome.fit_s,
            "sender_load_s": pair.sender.load_seconds,
        },
        method_trainable=outcome.n_parameters_per_probe,
        soft_tokens=None,
        source_layer=cfg.source_layer,
        started_at=started_at,
        data=data,
    )
    return 0
