"""The trained baselines and controls as whole jobs: `train-baseline`, `eval-noise`, `probe`.

Each trains (when its method trains) and evaluates in one go, writing one eval record with the
bridge eval's metrics and per-item samples plus the training figures in metrics and timings.
One job rather than the bridge's train/eval pair: nothing else reads a baseline's weights, so a
separate artifact and a second model load would buy nothing; a job preempted during evaluation
reruns with --resume auto, finds the final checkpoint and only evaluates.

Every method loads only the LM it uses (prompt tuning, LoRA and noise the receiver; the probe
the sender): the other side's revision and parameter counts are recorded as null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from telepathy.experiment.methods import TRAINED_METHODS

CLASS_TASKS = ("classification", "multiple_choice")


def lora_schedule_for(method: str, schedule: str | None) -> str | None:
    """The LoRA schedule name for `method` (None for the others); raises on a bad value."""
    from telepathy.baselines.lora import LORA_SCHEDULES

    if method not in TRAINED_METHODS:
        raise ValueError(f"--method {method!r} is not one of {', '.join(TRAINED_METHODS)}")
    if method != "lora":
        if schedule is not None:
            raise ValueError(
                f"--lora-schedule {schedule!r} applies to --method lora only, not {method!r}; "
                "drop it"
            )
        return None
    schedule = schedule or "method"
    if schedule not in LORA_SCHEDULES:
        raise ValueError(f"--lora-schedule {schedule!r} is not one of {', '.join(LORA_SCHEDULES)}")
    return schedule


@dataclass
class TrainingJob:
    """Where a trained baseline keeps its state and log, and how its evaluation runs."""

    checkpoint_path: Path
    metrics_path: Path
    resume: str
    batch_size: int
    progress: bool


@dataclass
class TrainedBaseline:
    """A trained baseline after its final evaluation."""

    report: Any  # evaluate.EvalReport
    outcome: Any  # LoraOutcome or PromptTuningOutcome
    trainable: int
    hyperparameters: dict[str, Any]
    soft_tokens: int | None


def train_and_evaluate(
    method: str, cfg: Any, inputs: Any, job: TrainingJob, *, lora_schedule: str | None
) -> TrainedBaseline:
    """Train `method` on the receiver (inputs: run_inputs.RunInputs), then evaluate it on the
    recorded eval list; the final eval cuts the text as the bridge's eval does."""
    loop_options = dict(
        checkpoint_path=job.checkpoint_path,
        metrics_path=job.metrics_path,
        resume=job.resume,
        progress=job.progress,
    )
    quick = inputs.eval_examples[: cfg.quick_eval_n]
    final = inputs.framing.for_stage("eval")
    eval_options = dict(batch_size=job.batch_size, progress=job.progress)
    if method == "lora":
        from telepathy.baselines.lora import LoraSettings, describe_lora, evaluate_lora, train_lora

        settings = LoraSettings()
        outcome = train_lora(
            cfg,
            inputs.pair,
            inputs.framing,
            inputs.train_examples,
            quick,
            settings=settings,
            schedule_name=lora_schedule,
            **loop_options,
        )
        report = evaluate_lora(outcome.model, final, inputs.eval_examples, **eval_options)
        trainable = sum(p.numel() for p in outcome.model.parameters() if p.requires_grad)
        hyper = {**describe_lora(inputs.framing, settings, outcome), "schedule_name": lora_schedule}
        return TrainedBaseline(report, outcome, trainable, hyper, None)
    from telepathy.baselines.prompt_tuning import (
        describe_prompt_tuning,
        evaluate_prompt_tuning,
        train_prompt_tuning,
    )
    from telepathy.bridge import count_parameters

    outcome = train_prompt_tuning(
        method, cfg, inputs.pair, inputs.framing, inputs.train_examples, quick, **loop_options
    )
    report = evaluate_prompt_tuning(
        method, outcome.prompt, inputs.pair, final, inputs.eval_examples, **eval_options
    )
    hyper = {
        **describe_prompt_tuning(method, inputs.framing, outcome),
        "n_train_examples": len(inputs.train_examples),
    }
    trainable = count_parameters(outcome.prompt, trainable_only=True)
    return TrainedBaseline(report, outcome, trainable, hyper, cfg.soft_tokens)


def train_metrics(loop: Any) -> dict[str, float]:
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


@dataclass
class BaselineResult:
    """What a baseline's eval record says beyond the bridge eval's common fields."""

    method: str
    report: Any  # evaluate.EvalReport
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    timings: dict[str, float]
    method_trainable: int
    soft_tokens: int | None
    source_layer: int | None
    extra: dict[str, Any] | None = None


def baseline_eval_record(
    cfg: Any, inputs: Any, result: BaselineResult, *, batch_size: int, started_at: datetime
) -> dict[str, Any]:
    """The eval record of a trained baseline or control (written by run_record.write_record)."""
    from telepathy.data.snapshot import data_provenance
    from telepathy.parsing import PARSER_DESCRIPTION
    from telepathy.results.provenance import utc_now
    from telepathy.results.run_record import build_record, eval_examples_block

    report = result.report
    return build_record(
        kind="eval",
        cfg=cfg,
        pair=inputs.pair,
        bridge=None,
        hyperparameters={
            **cfg.to_dict(),
            **result.hyperparameters,
            "eval_batch_size": batch_size,
            "decoding": f"greedy, max_new_tokens={cfg.max_new_tokens}",
            "parser": PARSER_DESCRIPTION,
        },
        metrics={**report.metrics, **result.metrics, "eval_s": report.eval_s},
        timings={**result.timings, "eval_s": report.eval_s},
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, inputs.data),
        method=result.method,
        method_trainable=result.method_trainable,
        extra={
            "soft_tokens": result.soft_tokens,
            "source_layer": result.source_layer,
            "eval_examples": eval_examples_block(inputs.eval_desc, report.samples),
            "samples": report.samples,
            **(result.extra or {}),
        },
    )


def noise_hyperparameters(framing: Any, rms: float, embedding_rms: float) -> dict[str, Any]:
    """The noise control's hyperparameters: what the receiver reads and how the noise is drawn."""
    return {
        "framing": {
            **framing.describe(),
            "receiver_input": "primer ++ K noise vectors (the bridge's slot); no input text",
            "sender_template": None,
            "sender_truncation": None,
        },
        "noise": "N(0, I) per token rescaled to RMS = s0; one generator per (seed, item id)",
        "noise_token_rms": rms,
        "receiver_embedding_median_rms": embedding_rms,
    }


def probe_hyperparameters(cfg: Any, layers: list[int], n_train: int) -> dict[str, Any]:
    """The linear probe's hyperparameters: which layers, pooling, classifier and train items."""
    from telepathy.baselines.probe import LOGISTIC_C, LOGISTIC_MAX_ITER, TRAIN_FIRST_N

    return {
        "probe_layers": layers,
        "reported_layer": cfg.source_layer,
        "pooling": "last non-pad token (right padding)",
        "normalisation": "per-row L2",
        "classifier": f"sklearn LogisticRegression(C={LOGISTIC_C}, "
        f"max_iter={LOGISTIC_MAX_ITER}, random_state=seed), lbfgs",
        "train_selection": f"first {TRAIN_FIRST_N} train examples",
        "n_train_examples": n_train,
        "sender_input": "the run's sender_template and truncation, as the bridge's sender",
        "sender_template": cfg.sender_template,
    }


def check_probe_dataset(dataset: str) -> None:
    """The probe needs classes; raise naming the dataset's task type otherwise."""
    from telepathy.data import get_dataset

    spec = get_dataset(dataset)
    if spec.task_type not in CLASS_TASKS or spec.label_names is None:
        raise ValueError(
            f"the linear probe needs a dataset with classes; {dataset!r} is a "
            f"{spec.task_type} task; pick one of type {' or '.join(CLASS_TASKS)}"
        )
