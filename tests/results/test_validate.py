"""Tests for the run-result schema v1 and its validator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telepathy.results.provenance import ids_digest
from telepathy.results.validate import (
    SCHEMA_VERSION,
    check_results,
    format_report,
    load_schema,
    validate_file,
    validate_paths,
    validate_result,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results"
EVAL_FIXTURE = FIXTURES / "eval_bridge_sst2.json"
TRAIN_FIXTURE = FIXTURES / "train_bridge_sst2.json"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def eval_result() -> dict[str, Any]:
    return _load(EVAL_FIXTURE)


@pytest.fixture
def train_result() -> dict[str, Any]:
    return _load(TRAIN_FIXTURE)


def test_schema_is_packaged_and_versioned() -> None:
    schema = load_schema()
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert schema["$schema"].endswith("2020-12/schema")
    schema["mutated"] = True
    assert "mutated" not in load_schema()  # callers get a fresh copy


@pytest.mark.parametrize("path", [EVAL_FIXTURE, TRAIN_FIXTURE])
def test_fixtures_are_valid(path: Path) -> None:
    assert validate_file(path) == []


def test_ids_digest_is_newline_joined_sha256() -> None:
    # sha256(b"a\nb"), computed independently with `printf 'a\nb' | sha256sum`.
    assert (
        ids_digest(["a", "b"]) == "7e18f737311b2dc3b2f269dd78396b0351f14fb66efa879f768cb23181883c78"
    )
    assert ids_digest(["a", "b"]) != ids_digest(["b", "a"])


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Return a mutator that sets a dotted path (list indices as integers) to `value`."""

    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parents:
            obj = obj[part]
        obj[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            obj = obj[part]
        del obj[last]

    return mutate


# (mutation, text that must appear in one message naming the field)
EVAL_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "missing seed": (_delete("seed"), "(top level): 'seed' is a required property"),
    "seed is a string": (_set("seed", "0"), "seed: '0' is not of type 'integer'"),
    "negative seed": (_set("seed", -1), "seed: -1 is less than the minimum of 0"),
    "accuracy above 1": (_set("metrics.accuracy", 1.7), "metrics.accuracy: 1.7 is greater"),
    "unknown top-level key": (_set("acc", 0.5), "'acc' was unexpected"),
    "unknown pair key": (_set("pair.sender", "x"), "pair: Additional properties"),
    "bad protocol": (_set("protocol", "paper"), "protocol: 'paper' is not one of"),
    "bad method": (_set("method", "Bridge-V15"), "method: 'Bridge-V15' does not match"),
    "bad schema version": (_set("schema_version", 2), "schema_version: 1 was expected"),
    "bad config sha": (_set("provenance.config_sha256", "ABC"), "provenance.config_sha256"),
    "bad ids sha": (_set("eval_examples.ids_sha256", "0" * 63), "eval_examples.ids_sha256"),
    "eval without samples": (_delete("samples"), "'samples' is a required property"),
    "eval without eval_examples": (_delete("eval_examples"), "'eval_examples' is a required"),
    "missing eval metric": (_delete("metrics.n_invalid"), "metrics: 'n_invalid' is a required"),
    "sample field wrong type": (_set("samples.3.correct", "no"), "samples[3].correct: 'no'"),
    "unknown sample key": (_set("samples.0.pred", "x"), "samples[0]: Additional properties"),
    "timings without wall_s": (_delete("timings.wall_s"), "timings: 'wall_s' is a required"),
    "negative timing": (_set("timings.generate_s", -1.0), "timings.generate_s: -1.0 is less"),
    "naive timestamp": (
        _set("provenance.started_at", "2026-01-12T00:24:28"),
        "provenance.started_at: '2026-01-12T00:24:28' is not a 'date-time'",
    ),
    "missing git_dirty": (_delete("provenance.git_dirty"), "provenance: 'git_dirty' is a"),
    "negative parameter count": (_set("parameters.bridge_total", -3), "parameters.bridge_total"),
    "empty hyperparameters": (_set("hyperparameters", {}), "hyperparameters: {} "),
    "class accuracy out of range": (
        _set("metrics.per_class_accuracy.positive", 2),
        "metrics.per_class_accuracy.positive: 2 is greater",
    ),
    "NaN metric object": (_set("metrics.accuracy", float("nan")), "metrics.accuracy: NaN"),
    # Consistency checks (pitfall 18): numbers that the samples do not support.
    "n_correct inconsistent": (_set("metrics.n_correct", 4), "metrics.n_correct: 4 but 3"),
    "accuracy inconsistent": (_set("metrics.accuracy", 0.6), "metrics.accuracy: 0.6 !="),
    "n_examples inconsistent": (_set("metrics.n_examples", 7), "metrics.n_examples"),
    "n_invalid inconsistent": (_set("metrics.n_invalid", 1), "metrics.n_invalid: 1 but 2"),
    "invalid_rate inconsistent": (_set("metrics.invalid_rate", 0.0), "metrics.invalid_rate"),
    "lenient inconsistent": (_set("metrics.accuracy_lenient", 0.5), "metrics.accuracy_lenient"),
    "histogram inconsistent": (
        _set("metrics.prediction_histogram.INVALID", 1),
        "metrics.prediction_histogram",
    ),
    "per-class inconsistent": (
        _set("metrics.per_class_accuracy.negative", 1.0),
        "metrics.per_class_accuracy.negative: 1.0 but samples give 2/3",
    ),
    "per-class for absent class": (
        _set("metrics.per_class_accuracy.neutral", 0.0),
        "metrics.per_class_accuracy.neutral: 0.0 but no sample has gold 'neutral'",
    ),
    "duplicate ids": (_set("samples.1.id", "sst2-validation-0"), "samples[].id: duplicate"),
    "ids digest mismatch": (
        _set("eval_examples.ids_sha256", "0" * 64),
        "eval_examples.ids_sha256: 0000",
    ),
    "ended before started": (
        _set("provenance.ended_at", "2026-01-11T00:00:00Z"),
        "provenance.ended_at: 2026-01-11T00:00:00Z is before provenance.started_at",
    ),
    "invalid prediction marked correct": (
        _set("samples.3.correct", True),
        "samples[3].correct: true with prediction=null",
    ),
}


@pytest.mark.parametrize("name", sorted(EVAL_MUTATIONS))
def test_malformed_eval_variants_name_the_field(eval_result: dict[str, Any], name: str) -> None:
    mutate, expected = EVAL_MUTATIONS[name]
    mutate(eval_result)
    problems = validate_result(eval_result)
    assert problems, f"{name}: accepted"
    assert any(expected in message for message in problems), problems


def test_train_must_not_carry_samples(
    train_result: dict[str, Any], eval_result: dict[str, Any]
) -> None:
    train_result["samples"] = eval_result["samples"]
    problems = validate_result(train_result)
    assert any(p.startswith("samples: ") for p in problems), problems


def test_train_requires_train_metrics(train_result: dict[str, Any]) -> None:
    del train_result["metrics"]["final_lm_loss"]
    train_result["metrics"]["note"] = "text"
    assert validate_result(train_result) == [
        "metrics: 'final_lm_loss' is a required property",
        "metrics.note: 'text' is not of type 'number'",
    ]


def test_errors_are_sorted_by_path_with_numeric_indices(eval_result: dict[str, Any]) -> None:
    eval_result["samples"][4]["correct"] = "x"
    eval_result["samples"][1]["correct"] = "y"
    eval_result["seed"] = -2
    problems = validate_result(eval_result)
    assert [p.split(":")[0] for p in problems] == [
        "samples[1].correct",
        "samples[4].correct",
        "seed",
    ]


def test_consistency_checks_wait_for_a_schema_valid_object(eval_result: dict[str, Any]) -> None:
    eval_result["metrics"]["n_correct"] = 5  # inconsistent, but a schema error hides it
    eval_result["run_id"] = ""
    problems = validate_result(eval_result)
    assert len(problems) == 1 and problems[0].startswith("run_id: ")


def test_non_object_is_rejected() -> None:
    assert validate_result([1, 2]) == ["(top level): expected a JSON object, found list"]


def test_task_without_classes_may_have_empty_per_class(eval_result: dict[str, Any]) -> None:
    eval_result["metrics"]["per_class_accuracy"] = {}
    eval_result["metrics"]["digit_accuracy"] = 0.8  # optional extra numbers are allowed
    assert validate_result(eval_result) == []


# --- files -------------------------------------------------------------------------------


def test_nan_in_file_is_rejected_with_file_name(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text(EVAL_FIXTURE.read_text().replace('"accuracy": 0.5', '"accuracy": NaN'))
    problems = validate_file(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: invalid JSON")
    assert "NaN" in problems[0]


def test_invalid_json_is_rejected_with_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema_version": 1,')
    problems = validate_file(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: invalid JSON")
    assert "line 1" in problems[0]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00")
    problems = validate_file(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: cannot read file")


def test_file_messages_are_prefixed_with_path(tmp_path: Path, eval_result: dict[str, Any]) -> None:
    eval_result["metrics"]["accuracy"] = 1.7
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(eval_result))
    assert validate_file(path) == [
        f"{path}: metrics.accuracy: 1.7 is greater than the maximum of 1"
    ]


def test_validate_paths_expands_directories(tmp_path: Path, eval_result: dict[str, Any]) -> None:
    good = tmp_path / "runs" / "a" / "eval.json"
    good.parent.mkdir(parents=True)
    good.write_text(EVAL_FIXTURE.read_text())
    bad = tmp_path / "runs" / "b" / "deep" / "eval.json"
    bad.parent.mkdir(parents=True)
    eval_result["kind"] = "test"
    bad.write_text(json.dumps(eval_result))
    (tmp_path / "runs" / "notes.txt").write_text("not a result")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.json"

    report = validate_paths([tmp_path / "runs", empty, missing])
    assert set(report) == {good, bad, empty, missing}
    assert report[good] == []
    assert report[bad] and all(p.startswith(str(bad)) for p in report[bad])
    assert report[empty] == [f"{empty}: directory contains no *.json result files"]
    assert report[missing] == [f"{missing}: no such file or directory"]

    text = format_report(report)
    lines = text.splitlines()
    assert lines[-1] == "3 files checked, 2 malformed, 1 directories without result files"
    assert len(lines) == len(report[bad]) + 2 + 1


def test_format_report_all_valid() -> None:
    report = validate_paths([FIXTURES])
    assert format_report(report) == "2 files checked, 0 malformed"


def test_check_results_exit_codes(tmp_path: Path) -> None:
    text, code = check_results([FIXTURES])
    assert code == 0 and text.endswith("2 files checked, 0 malformed")
    (tmp_path / "x.json").write_text("[]")
    text, code = check_results([tmp_path])
    assert code == 1
    assert "x.json: (top level): expected a JSON object, found list" in text
    assert check_results([]) == ("no paths given", 1)
