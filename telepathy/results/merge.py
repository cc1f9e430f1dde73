"""Merge per-run result JSONs into one tidy table: one row per expected run, missing ones marked.

Pure functions: records in, rows out. The CLI reads the files and writes the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telepathy.results.identity import (
    duplicate_ids,
    duplicate_message,
    record_run_id,
    result_id,
    run_id,
)

COLUMNS = (
    "run_id",
    "status",
    "protocol",
    "method",
    "studies",
    "pair",
    "dataset",
    "architecture",
    "soft_tokens",
    "source_layer",
    "seed",
    "accuracy",
    "accuracy_lenient",
    "accuracy_first_match",
    "invalid_rate",
    "n_examples",
    "n_correct",
    "n_correct_lenient",
    "n_correct_first_match",
    "digit_accuracy",
    "steps_completed",
    "restarts",
    "final_loss",
    "final_lm_loss",
    "final_batch_similarity",
    "train_wall_s",
    "mean_step_s",
    "eval_wall_s",
    "trainable_params",
    "config_sha256",
    "git_commit",
    "device",
    "slurm_job_id",
    "train_result",
    "eval_result",
)


@dataclass(frozen=True)
class ExpectedRun:
    """One bridge the grid asks for, the studies that use it, and where its results should be."""

    protocol: str
    pair: str
    dataset: str
    architecture: str
    soft_tokens: int
    source_layer: int
    seed: int
    studies: str  # "+"-joined: main, soft_tokens, source_layer, architecture, ...
    train_result: str
    eval_result: str

    @property
    def run_id(self) -> str:
        return run_id(
            method="bridge",
            protocol=self.protocol,
            pair=self.pair,
            dataset=self.dataset,
            seed=self.seed,
            architecture=self.architecture,
            soft_tokens=self.soft_tokens,
            source_layer=self.source_layer,
        )


@dataclass(frozen=True)
class ExpectedBaseline:
    """One baseline run the grid asks for, and where its eval result should be."""

    protocol: str
    method: str
    pair: str
    dataset: str
    seed: int
    eval_result: str

    @property
    def run_id(self) -> str:
        return run_id(
            method=self.method,
            protocol=self.protocol,
            pair=self.pair,
            dataset=self.dataset,
            seed=self.seed,
        )


RUN_SPEC = "protocol,pair,dataset,arch,k,layer,seed,studies,train_json,eval_json"
BASELINE_SPEC = "protocol,method,pair,dataset,seed,eval_json"


def parse_run_spec(spec: str) -> ExpectedRun:
    """`protocol,pair,dataset,arch,k,layer,seed,studies,train.json,eval.json` -> ExpectedRun."""
    parts = spec.split(",")
    if len(parts) != len(RUN_SPEC.split(",")):
        raise ValueError(f"--run expects {RUN_SPEC}; got {spec!r}")
    protocol, pair, dataset, arch, k, layer, seed, studies, train, evaluation = parts
    return ExpectedRun(
        protocol, pair, dataset, arch, int(k), int(layer), int(seed), studies, train, evaluation
    )


def parse_baseline_spec(spec: str) -> ExpectedBaseline:
    """`protocol,method,pair,dataset,seed,eval.json` -> ExpectedBaseline."""
    parts = spec.split(",")
    if len(parts) != len(BASELINE_SPEC.split(",")):
        raise ValueError(f"--baseline expects {BASELINE_SPEC}; got {spec!r}")
    protocol, method, pair, dataset, seed, evaluation = parts
    return ExpectedBaseline(protocol, method, pair, dataset, int(seed), evaluation)


def run_row(
    run: ExpectedRun, train: dict[str, Any] | None, evaluation: dict[str, Any] | None
) -> dict[str, Any]:
    """One table row; status says whether the run is complete or which part is missing."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        run_id=run.run_id,
        protocol=run.protocol,
        method="bridge",
        studies=run.studies,
        pair=run.pair,
        dataset=run.dataset,
        architecture=run.architecture,
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
    if evaluation:
        row.update(_eval_columns(evaluation))
    source = evaluation or train
    row.update(
        _provenance_columns(source), trainable_params=source["parameters"]["bridge_trainable"]
    )
    return row


def baseline_row(run: ExpectedBaseline, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """One table row of a baseline; its K and layer (where it has them) come from its result."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        run_id=run.run_id,
        status="missing" if evaluation is None else "complete",
        protocol=run.protocol,
        method=run.method,
        studies="baselines",
        pair=run.pair,
        dataset=run.dataset,
        seed=run.seed,
        eval_result=run.eval_result,
    )
    if evaluation is None:
        return row
    parameters = evaluation["parameters"]
    row.update(
        _eval_columns(evaluation),
        **_provenance_columns(evaluation),
        soft_tokens=evaluation.get("soft_tokens"),
        source_layer=evaluation.get("source_layer"),
        trainable_params=parameters.get("method_trainable", parameters["bridge_trainable"]),
    )
    metrics = evaluation["metrics"]
    if "train_steps_completed" in metrics:  # trained baselines: their loop's figures
        row.update(
            steps_completed=metrics["train_steps_completed"],
            restarts=metrics["train_restarts"],
            final_loss=metrics["train_final_loss"],
        )
    return row


def _eval_columns(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The eval figures of a row: the strict score, and the original code's two rules (Era B's
    gold substring, Era D's first match, method.md §4) with their item counts, for tables that
    compare with the paper scored its way. First match exists for label tasks only."""
    metrics = evaluation["metrics"]
    samples = evaluation["samples"]
    first = [s["correct_first_match"] for s in samples if "correct_first_match" in s]
    return dict(
        accuracy=metrics["accuracy"],
        accuracy_lenient=metrics["accuracy_lenient"],
        accuracy_first_match=metrics.get("accuracy_first_match"),
        n_correct_lenient=sum(s["correct_lenient"] for s in samples),
        n_correct_first_match=sum(first) if len(first) == len(samples) else None,
        invalid_rate=metrics["invalid_rate"],
        n_examples=metrics["n_examples"],
        n_correct=metrics["n_correct"],
        digit_accuracy=metrics.get("digit_accuracy"),
        eval_wall_s=evaluation["timings"]["wall_s"],
    )


def _provenance_columns(result: dict[str, Any]) -> dict[str, Any]:
    provenance = result["provenance"]
    return dict(
        config_sha256=provenance["config_sha256"],
        git_commit=provenance["git_commit"],
        device=provenance["device"],
        slurm_job_id=provenance["slurm_job_id"],
    )


def check_identities(
    expected: list[tuple[str, str, Path, dict[str, Any]]],
) -> None:
    """Each loaded result belongs to the run whose place it sits in, and no two files carry
    one run id; else a ValueError naming the files. `expected`: (run id, kind, path, record)."""
    problems = []
    for run, kind, path, record in expected:
        found, wanted = result_id(record_run_id(record), record["kind"]), result_id(run, kind)
        if found != wanted:
            problems.append(
                f"{path} holds the result of {found!r}, but the grid expects {wanted!r} there "
                "(a copied file, or one written before run ids included the architecture: "
                "rerun its job)"
            )
    records = {path: record for _, _, path, record in expected}
    problems += [duplicate_message(rid, paths) for rid, paths in duplicate_ids(records).items()]
    if problems:
        raise ValueError("; ".join(problems))


def missing_runs(rows: list[dict[str, Any]]) -> list[str]:
    """Run ids of every row that is not complete."""
    return [row["run_id"] for row in rows if row["status"] != "complete"]


def merge_runs(
    run_specs: list[str], baseline_specs: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The merged table's rows for the expected runs (RUN_SPEC / BASELINE_SPEC strings), in
    order, and the ids of those not complete. Absent files make a row 'missing'; a malformed
    file, or two files claiming one run's identity, is an error."""
    from telepathy.results.run_record import read_valid_run_record

    def load(path: str) -> dict[str, Any] | None:
        return read_valid_run_record(Path(path)) if Path(path).exists() else None

    if not run_specs and not baseline_specs:
        raise ValueError("merge-runs needs at least one --run or --baseline")
    rows, loaded = [], []
    for spec in run_specs:
        run = parse_run_spec(spec)
        train, evaluation = load(run.train_result), load(run.eval_result)
        rows.append(run_row(run, train, evaluation))
        loaded += [(run.run_id, "train", Path(run.train_result), train)]
        loaded += [(run.run_id, "eval", Path(run.eval_result), evaluation)]
    for spec in baseline_specs:
        baseline = parse_baseline_spec(spec)
        evaluation = load(baseline.eval_result)
        rows.append(baseline_row(baseline, evaluation))
        loaded.append((baseline.run_id, "eval", Path(baseline.eval_result), evaluation))
    check_identities([item for item in loaded if item[3] is not None])
    return rows, missing_runs(rows)
