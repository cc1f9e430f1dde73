"""Merging run JSONs into one table: every expected run has a row; missing ones say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from telepathy.results.merge import (
    ExpectedBaseline,
    ExpectedRun,
    baseline_row,
    missing_runs,
    parse_baseline_spec,
    parse_run_spec,
    run_row,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results"


def merge_runs(*specs: str, output: Path) -> subprocess.CompletedProcess:
    runs = [arg for spec in specs for arg in ("--run", spec)]
    return subprocess.run(
        [sys.executable, "-m", "telepathy", "merge-runs", *runs, "--output", str(output)],
        check=False,
        capture_output=True,
        text=True,
    )


def test_rows_for_complete_missing_and_half_done_runs():
    train = json.loads((FIXTURES / "train_bridge_sst2.json").read_text())
    evaluation = json.loads((FIXTURES / "eval_bridge_sst2.json").read_text())
    run = ExpectedRun(
        "dec2025", "paper", "sst2", "perceiver", 8, 16, 42, "main", "t.json", "e.json"
    )
    complete = run_row(run, train, evaluation)
    assert complete["status"] == "complete"
    assert complete["accuracy"] == evaluation["metrics"]["accuracy"]
    assert complete["steps_completed"] == train["metrics"]["steps_completed"]
    assert run_row(run, None, None)["status"] == "missing"
    assert run_row(run, None, None)["accuracy"] is None  # never a filled-in number
    assert run_row(run, train, None)["status"] == "missing_eval"
    rows = [complete, run_row(run, train, None)]
    assert missing_runs(rows) == ["bridge/dec2025/paper/sst2/perceiver/k8/l16/seed42"]


def test_run_spec_is_checked():
    spec = parse_run_spec("dec2025,paper,trec,mlp,16,31,123,main+architecture,a.json,b.json")
    assert (spec.dataset, spec.architecture, spec.soft_tokens) == ("trec", "mlp", 16)
    assert spec.studies == "main+architecture"
    try:
        parse_run_spec("dec2025,paper,trec")
    except ValueError as err:
        assert "protocol,pair,dataset,arch,k,layer,seed" in str(err)
    else:
        raise AssertionError("a short --run spec was accepted")


# The fixtures' own run: protocol corrected, pair small, SST-2, Perceiver, K 8, layer 16, seed 0.
FIXTURE_RUN = "corrected,small,sst2,perceiver,8,16,0"


def test_merge_runs_cli_names_the_missing_run(tmp_path):
    train, evaluation = FIXTURES / "train_bridge_sst2.json", FIXTURES / "eval_bridge_sst2.json"
    present = f"{FIXTURE_RUN},main,{train},{evaluation}"
    gone = f"{tmp_path}/no_train.json,{tmp_path}/no_eval.json"
    absent = f"corrected,small,sst2,perceiver,8,16,123,main,{gone}"
    out = tmp_path / "runs.csv"
    proc = merge_runs(present, absent, output=out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert list(table["status"]) == ["complete", "missing"]
    assert table["run_id"][0] == "bridge/corrected/small/sst2/perceiver/k8/l16/seed0"
    assert "missing run: bridge/corrected/small/sst2/perceiver/k8/l16/seed123" in proc.stderr


def test_run_ids_differ_across_architectures():
    """The ablation's linear, MLP and Perceiver runs once shared one id (issue: first contact)."""
    from telepathy.experiment.config import resolve_run_config
    from telepathy.results.run_record import run_id

    ids = {
        run_id(
            resolve_run_config(
                protocol="corrected", pair="small", dataset="synth_sentiment", seed=42,
                overrides={"bridge_architecture": arch, "soft_tokens": 8},
            ),
            "train",
        )
        for arch in ("linear", "mlp", "perceiver")
    }  # fmt: skip
    assert ids == {
        f"bridge/corrected/small/synth_sentiment/{arch}/k8/l12/seed42/train"
        for arch in ("linear", "mlp", "perceiver")
    }


def test_a_merge_with_two_results_of_one_run_fails_naming_both_files(tmp_path):
    train, evaluation = FIXTURES / "train_bridge_sst2.json", FIXTURES / "eval_bridge_sst2.json"
    copy = tmp_path / "linear" / "eval.json"  # e.g. one run's result copied into another's place
    copy.parent.mkdir()
    copy.write_text(evaluation.read_text())
    first = f"{FIXTURE_RUN},main+architecture,{train},{evaluation}"
    second = f"corrected,small,sst2,linear,8,16,0,architecture,{tmp_path}/none.json,{copy}"
    proc = merge_runs(first, second, output=tmp_path / "runs.csv")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    wanted = "bridge/corrected/small/sst2/linear/k8/l16/seed0/eval"
    assert f"{copy} holds the result of" in last and wanted in last
    carried = "run_id 'bridge/corrected/small/sst2/perceiver/k8/l16/seed0/eval' is carried by 2"
    assert carried in last and str(evaluation) in last and str(copy) in last
    assert not (tmp_path / "runs.csv").exists()


def test_validate_results_rejects_two_files_of_one_run(tmp_path):
    evaluation = FIXTURES / "eval_bridge_sst2.json"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(evaluation.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "telepathy", "validate-results", str(tmp_path)],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout.count("is carried by 2 files") == 2  # once under each file
    assert f"{tmp_path}/a/eval.json, {tmp_path}/b/eval.json" in proc.stdout
    assert "2 files checked, 2 malformed" in proc.stdout
    # a record whose run_id disagrees with its own fields is malformed too
    record = json.loads(evaluation.read_text())
    record["run_id"] = "bridge/corrected/small/sst2/k8/l16/seed0/eval"  # no architecture
    (tmp_path / "b" / "eval.json").write_text(json.dumps(record))
    proc = subprocess.run(
        [sys.executable, "-m", "telepathy", "validate-results", str(tmp_path / "b")],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert "the record's fields give 'bridge/corrected/small/sst2/perceiver/k8/l16/seed0/eval'" in (
        proc.stdout
    )


def test_merge_runs_refuses_a_malformed_result(tmp_path):
    bad = tmp_path / "eval.json"
    bad.write_text(json.dumps({"schema_version": 1}))
    spec = f"{FIXTURE_RUN},main,{tmp_path}/none.json,{bad}"
    proc = merge_runs(spec, output=tmp_path / "runs.csv")
    assert proc.returncode == 1 and "malformed result file" in proc.stderr
    assert not (tmp_path / "runs.csv").exists()


def test_baseline_rows_share_the_eval_columns_and_name_the_method():
    evaluation = json.loads((FIXTURES / "eval_bridge_sst2.json").read_text())
    evaluation["parameters"]["method_trainable"] = 32769
    spec = parse_baseline_spec("dec2025,prompt_tuning,paper,sst2,123,e.json")
    assert spec == ExpectedBaseline("dec2025", "prompt_tuning", "paper", "sst2", 123, "e.json")
    row = baseline_row(spec, evaluation)
    assert (row["method"], row["status"], row["trainable_params"]) == (
        "prompt_tuning",
        "complete",
        32769,
    )
    assert row["accuracy"] == evaluation["metrics"]["accuracy"]
    missing = baseline_row(spec, None)
    assert missing["status"] == "missing" and missing["accuracy"] is None
    assert missing_runs([row, missing]) == ["prompt_tuning/dec2025/paper/sst2/seed123"]
    with pytest.raises(ValueError, match="protocol,method,pair,dataset,seed,eval_json"):
        parse_baseline_spec("dec2025,lora,paper")
