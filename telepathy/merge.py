"""Merge per-run result JSONs into one tidy table: one row per expected run, missing ones marked.

Pure functions: records in, rows out. The CLI reads the files and writes the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLUMNS = (
    "run_id",
    "status",
    "protocol",
    "method",
    "pair",
    "dataset",
    "soft_tokens",
    "source_layer",
    "seed",
    "accuracy",
    "accuracy_lenient",
    "invalid_rate",
    "n_examples",
    "n_correct",
    "digit_accuracy",
    "steps_completed",
    "restarts",
    "final_loss",
    "final_lm_loss",
    "final_batch_similarity",
    "train_wall_s",
    "mean_step_s",
    "eval_wall_s",
    "bridge_params",
    "config_sha256",
    "git_commit",
    "device",
    "slurm_job_id",
    "train_result",
    "eval_result",
)


@dataclass(frozen=True)
class ExpectedRun:
    """One run the grid asks for, and where its result files should be."""

    protocol: str
    pair: str
    dataset: str
    soft_tokens: int
    source_layer: int
    seed: int
    train_result: str
    eval_result: str

    @property
    def run_id(self) -> str:
        return (
            f"bridge/{self.protocol}/{self.pair}/{self.dataset}/k{self.soft_tokens}"
            f"/l{self.source_layer}/seed{self.seed}"
        )


def parse_run_spec(spec: str) -> ExpectedRun:
    """`protocol,pair,dataset,k,layer,seed,train.json,eval.json` -> ExpectedRun."""
    parts = spec.split(",")
    if len(parts) != 8:
        raise ValueError(
            f"--run expects protocol,pair,dataset,k,layer,seed,train_json,eval_json; got {spec!r}"
        )
    protocol, pair, dataset, k, layer, seed, train, evaluation = parts
    return ExpectedRun(protocol, pair, dataset, int(k), int(layer), int(seed), train, evaluation)


def run_row(
    run: ExpectedRun, train: dict[str, Any] | None, evaluation: dict[str, Any] | None
) -> dict[str, Any]:
    """One table row; status says whether the run is complete or which part is missing."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        run_id=run.run_id,
        protocol=run.protocol,
        method="bridge",
        pair=run.pair,
        dataset=run.dataset,
        soft_tokens=run.soft_tokens,
        source_layer=run.source_layer,
        seed=run.seed,
        train_result=run.train_result,
        eval_result=run.eval_result,
    )
    if train is None and evaluation is None:
        row["status"] = "missing"
        return row
    row["status"] = (
        "complete"
        if train and evaluation
        else ("missing_eval" if evaluation is None else "missing_train")
    )
    if train:
        metrics = train["metrics"]
        row.update(
            steps_completed=metrics["steps_completed"],
            restarts=metrics["restarts"],
            final_loss=metrics["final_loss"],
            final_lm_loss=metrics["final_lm_loss"],
            final_batch_similarity=metrics["final_batch_similarity"],
            train_wall_s=train["timings"]["wall_s"],
            mean_step_s=train["timings"].get("mean_step_s"),
        )
    source = evaluation or train
    if evaluation:
        metrics = evaluation["metrics"]
        row.update(
            accuracy=metrics["accuracy"],
            accuracy_lenient=metrics["accuracy_lenient"],
            invalid_rate=metrics["invalid_rate"],
            n_examples=metrics["n_examples"],
            n_correct=metrics["n_correct"],
            digit_accuracy=metrics.get("digit_accuracy"),
            eval_wall_s=evaluation["timings"]["wall_s"],
        )
    provenance = source["provenance"]
    row.update(
        bridge_params=source["parameters"]["bridge_total"],
        config_sha256=provenance["config_sha256"],
        git_commit=provenance["git_commit"],
        device=provenance["device"],
        slurm_job_id=provenance["slurm_job_id"],
    )
    return row


def missing_runs(rows: list[dict[str, Any]]) -> list[str]:
    """Run ids of every row that is not complete."""
    return [row["run_id"] for row in rows if row["status"] != "complete"]
