"""What a bridge's train and eval records hold, assembled from a finished job's outcome and
written through `run_record` (the one builder, validator and writer of run records)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from telepathy.results.provenance import utc_now
from telepathy.results.run_record import build_record, eval_examples_block


def train_record(
    cfg: Any,
    inputs: Any,
    outcome: Any,
    *,
    artifacts: dict[str, Path],
    started_at: datetime,
    wall_s: float,
    load_s: float,
) -> dict[str, Any]:
    """The train record of `outcome` (train.TrainOutcome) for the run's RunInputs."""
    from telepathy.data.snapshot import data_provenance

    pair, final = inputs.pair, outcome.final
    return build_record(
        kind="train",
        cfg=cfg,
        pair=pair,
        bridge=outcome.bridge,
        hyperparameters={
            **cfg.to_dict(),
            "framing": inputs.framing.describe(),
            "output_scale_init": outcome.output_scale_init,
            "receiver_embedding_median_rms": outcome.embedding_rms,
            "bridge_shape": vars(outcome.bridge.shape),
            "n_train_examples": len(inputs.train_examples),
        },
        metrics={
            "steps_completed": outcome.steps_completed,
            "final_loss": final["loss"],
            "final_lm_loss": final["lm_loss"],
            "final_batch_similarity": final["batch_similarity"],
            "final_pre_norm_variance": final["pre_norm_var"],
            "final_output_scale": final["output_scale"],
            "restarts": outcome.restarts,
            # the full quick-eval curve is in the metrics JSONL; the last point is kept here
            **(
                {"last_quick_eval_accuracy": outcome.quick_evals[-1]["accuracy"]}
                if outcome.quick_evals
                else {}
            ),
        },
        timings={
            "wall_s": wall_s,
            "load_s": load_s,
            "train_s": outcome.train_wall_s,
            "mean_step_s": outcome.mean_step_s,
            "sender_load_s": pair.sender.load_seconds,
            "receiver_load_s": pair.receiver.load_seconds,
        },
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, inputs.data),
        extra={"artifacts": {name: str(path) for name, path in artifacts.items()}},
    )


def eval_record(
    run: Any, report: Any, *, batch_size: int, started_at: datetime, wall_s: float, load_s: float
) -> dict[str, Any]:
    """The eval record of a trained bridge (`run`: run_inputs.TrainedBridgeRun) and its
    evaluation `report` (evaluate.EvalReport)."""
    from telepathy.data.snapshot import data_provenance
    from telepathy.parsing import PARSER_DESCRIPTION

    cfg = run.cfg
    return build_record(
        kind="eval",
        cfg=cfg,
        pair=run.inputs.pair,
        bridge=run.bridge,
        hyperparameters={
            **cfg.to_dict(),
            "framing": run.inputs.framing.describe(),
            "eval_batch_size": batch_size,
            "output_scale_init": run.state["output_scale_init"],
            "trained_steps": run.state["step"],
            "decoding": f"greedy, max_new_tokens={cfg.max_new_tokens}",
            "parser": PARSER_DESCRIPTION,
        },
        metrics={**report.metrics, "eval_s": report.eval_s},
        timings={
            "wall_s": wall_s,
            "load_s": load_s,
            "eval_s": report.eval_s,
            "sender_load_s": run.inputs.pair.sender.load_seconds,  # ~0 with a sender cache
            "receiver_load_s": run.inputs.pair.receiver.load_seconds,
        },
        started_at=started_at,
        ended_at=utc_now(),
        data=data_provenance(cfg.dataset, run.inputs.data),
        extra={
            "eval_examples": eval_examples_block(run.inputs.eval_desc, report.samples),
            "samples": report.samples,
            "artifacts": {"bridge": str(run.path)},
        },
    )
