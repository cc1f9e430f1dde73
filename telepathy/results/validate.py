"""Validate run-result JSON files against the versioned schema plus cross-field consistency.

The consistency checks exist because the original project shipped tables built from simulated
numbers (method.md pitfall 18): every count and rate must be recomputable from the stored
per-example samples.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from telepathy.results.identity import check_record_id, duplicate_ids, duplicate_message
from telepathy.results.provenance import ids_digest

SCHEMA_VERSION = 1
SCHEMA_FILE = f"run_result.v{SCHEMA_VERSION}.schema.json"
INVALID_LABEL = "INVALID"  # same string as telepathy.parsing.INVALID; kept local to stay light
_TOLERANCE = 1e-9
_MAX_VALUE_CHARS = 80


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return (
        resources.files("telepathy.results")
        .joinpath("schemas")
        .joinpath(SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )


def load_schema() -> dict[str, Any]:
    """Return the packaged run-result JSON schema (a fresh copy each call)."""
    return json.loads(_schema_text())


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 date-time that carries a timezone; raise ValueError otherwise."""
    # fromisoformat only learned the "Z" suffix in Python 3.11; the package supports 3.10.
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone offset; expected e.g. +00:00 or Z")
    return parsed


def format_checker() -> FormatChecker:
    """The format checker every telepathy schema is validated with (date-time only)."""
    # Our own date-time check: jsonschema's needs the optional rfc3339-validator package and
    # silently passes everything without it.
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(
        lambda value: not isinstance(value, str) or bool(parse_timestamp(value))
    )
    return checker


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


def _field(path: Iterable[str | int]) -> str:
    """Render a JSON path as `metrics.accuracy` / `samples[3].correct` / `(top level)`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _sort_key(path: Iterable[str | int]) -> tuple[tuple[int, int | str], ...]:
    # Indices sort numerically, so samples[2] comes before samples[10].
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


def _shorten(message: str, instance: Any) -> str:
    """Abbreviate a long offending value inside a jsonschema message, keeping the reason."""
    shown = repr(instance)
    if len(shown) > _MAX_VALUE_CHARS and shown in message:
        message = message.replace(shown, shown[: _MAX_VALUE_CHARS - 3] + "...", 1)
    return message


def _schema_message(error: ValidationError, obj: Mapping[str, Any]) -> str:
    # The schema forbids keys per kind with `{"not": {}}` rather than `false`, because jsonschema
    # drops the instance path of errors raised by a `false` subschema.
    if error.validator == "not" and error.validator_value == {}:
        return f"not allowed when kind is {obj.get('kind')!r}"
    return error.message


def _non_finite(obj: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of NaN/Infinity floats; JSON Schema range checks do not catch them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _non_finite(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _non_finite(v, (*path, i))]
    return []


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOLERANCE


def _eval_consistency(obj: Mapping[str, Any]) -> list[str]:
    """Check that every eval count and rate follows from the stored samples."""
    problems: list[str] = []
    metrics = obj["metrics"]
    samples = obj["samples"]
    examples = obj["eval_examples"]
    n = metrics["n_examples"]

    if not len(samples) == n == examples["n"]:
        problems.append(
            f"samples, metrics.n_examples, eval_examples.n: lengths disagree ({len(samples)} "
            f"samples, n_examples={n}, eval_examples.n={examples['n']}); expected all equal"
        )
    n_correct = sum(s["correct"] for s in samples)
    if metrics["n_correct"] != n_correct:
        problems.append(
            f"metrics.n_correct: {metrics['n_correct']} but {n_correct} samples have correct=true"
        )
    if not _close(metrics["accuracy"], metrics["n_correct"] / n):
        problems.append(
            f"metrics.accuracy: {metrics['accuracy']} != metrics.n_correct / metrics.n_examples "
            f"= {metrics['n_correct']}/{n}"
        )
    n_invalid = sum(s["prediction"] is None for s in samples)
    if metrics["n_invalid"] != n_invalid:
        problems.append(
            f"metrics.n_invalid: {metrics['n_invalid']} but {n_invalid} samples have "
            "prediction=null"
        )
    if not _close(metrics["invalid_rate"], metrics["n_invalid"] / n):
        problems.append(
            f"metrics.invalid_rate: {metrics['invalid_rate']} != metrics.n_invalid / "
            f"metrics.n_examples = {metrics['n_invalid']}/{n}"
        )
    for i, sample in enumerate(samples):
        if sample["prediction"] is None and sample["correct"]:
            problems.append(
                f"samples[{i}].correct: true with prediction=null; invalid outputs count as wrong"
            )
    lenient = sum(s["correct_lenient"] for s in samples) / len(samples)
    if not _close(metrics["accuracy_lenient"], lenient):
        problems.append(
            f"metrics.accuracy_lenient: {metrics['accuracy_lenient']} != mean of "
            f"samples[].correct_lenient = {lenient}"
        )
    problems.extend(_first_match_consistency(metrics, samples))

    histogram = metrics["prediction_histogram"]
    if sum(histogram.values()) != n:
        problems.append(
            f"metrics.prediction_histogram: counts sum to {sum(histogram.values())}, expected "
            f"metrics.n_examples = {n}"
        )
    counted = Counter(
        INVALID_LABEL if s["prediction"] is None else s["prediction"] for s in samples
    )
    for label in sorted(set(histogram) | set(counted)):
        if histogram.get(label, 0) != counted.get(label, 0):
            problems.append(
                f"metrics.prediction_histogram.{label}: {histogram.get(label, 0)} but "
                f"{counted.get(label, 0)} samples predict it"
            )

    problems.extend(_per_class_consistency(metrics["per_class_accuracy"], samples))

    ids = [s["id"] for s in samples]
    duplicates = sorted(i for i, c in Counter(ids).items() if c > 1)
    if duplicates:
        problems.append(f"samples[].id: duplicate ids {duplicates[:10]}; ids must be unique")
    digest = ids_digest(ids)
    if examples["ids_sha256"] != digest:
        problems.append(
            f"eval_examples.ids_sha256: {examples['ids_sha256']} != sha256 of the newline-joined "
            f"samples[].id = {digest}"
        )
    return problems


def _first_match_consistency(
    metrics: Mapping[str, Any], samples: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The camera-ready accuracy, where recorded, is the mean of the samples' verdicts."""
    marked = [s["correct_first_match"] for s in samples if "correct_first_match" in s]
    if not marked and "accuracy_first_match" not in metrics:
        return []  # open-answer tasks, and results from before the metric existed
    if len(marked) != len(samples):
        return [
            f"samples[].correct_first_match: on {len(marked)} of {len(samples)} samples; "
            "expected on every sample or none"
        ]
    if "accuracy_first_match" not in metrics:
        return ["metrics.accuracy_first_match: missing while samples carry correct_first_match"]
    mean = sum(marked) / len(marked)
    if not _close(metrics["accuracy_first_match"], mean):
        return [
            f"metrics.accuracy_first_match: {metrics['accuracy_first_match']} != mean of "
            f"samples[].correct_first_match = {mean}"
        ]
    return []


def _per_class_consistency(
    per_class: Mapping[str, float | None], samples: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Each class accuracy must equal the accuracy over samples with that gold label."""
    problems: list[str] = []
    totals = Counter(s["gold"] for s in samples)
    hits = Counter(s["gold"] for s in samples if s["correct"])
    # An empty object is allowed for tasks without classes (GSM8K, passkey); once any class is
    # listed, every gold label seen in the samples must be.
    missing = sorted(set(totals) - set(per_class)) if per_class else []
    if missing:
        problems.append(
            f"metrics.per_class_accuracy: no entry for gold labels {missing} found in samples"
        )
    for label, value in sorted(per_class.items()):
        if totals[label] == 0:
            if value is not None:
                problems.append(
                    f"metrics.per_class_accuracy.{label}: {value} but no sample has gold "
                    f"{label!r}; expected null"
                )
        elif value is None or not _close(value, hits[label] / totals[label]):
            problems.append(
                f"metrics.per_class_accuracy.{label}: {value} but samples give "
                f"{hits[label]}/{totals[label]}"
            )
    return problems


def _time_consistency(provenance: Mapping[str, Any]) -> list[str]:
    started = parse_timestamp(provenance["started_at"])
    ended = parse_timestamp(provenance["ended_at"])
    if ended < started:
        return [
            f"provenance.ended_at: {provenance['ended_at']} is before provenance.started_at "
            f"{provenance['started_at']}"
        ]
    return []


def validate_result(obj: Any) -> list[str]:
    """Return every problem with a result object, each prefixed by the field path; [] if valid."""
    if not isinstance(obj, dict):
        return [f"(top level): expected a JSON object, found {type(obj).__name__}"]
    found: list[tuple[tuple[str | int, ...], str]] = [
        (path, f"{_field(path)}: NaN/Infinity is not a valid JSON number; store null or a value")
        for path in _non_finite(obj)
    ]
    for error in _validator().iter_errors(obj):
        path = tuple(error.absolute_path)
        message = _shorten(_schema_message(error, obj), error.instance)
        found.append((path, f"{_field(path)}: {message}"))
    if found:
        found.sort(key=lambda item: (_sort_key(item[0]), item[1]))
        # dict.fromkeys drops repeats: a subschema (e.g. eval_metrics) can restate a type error.
        return list(dict.fromkeys(message for _, message in found))
    # Consistency checks assume the schema shapes, so they run only on schema-valid objects.
    problems = check_record_id(obj) + _time_consistency(obj["provenance"])
    if obj["kind"] == "eval":
        problems += _eval_consistency(obj)
    return problems


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} (NaN/Infinity are not allowed)")


def validate_file(path: str | Path) -> list[str]:
    """Validate one result file; every message is prefixed by the file path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return [f"{path}: cannot read file: {err}"]
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        return [f"{path}: invalid JSON: {err}"]
    except ValueError as err:
        return [f"{path}: invalid JSON: {err}"]
    return [f"{path}: {message}" for message in validate_result(obj)]


def validate_paths(paths: Sequence[str | Path]) -> dict[Path, list[str]]:
    """Validate files and directories (searched recursively for *.json); map path -> problems.

    A directory with no *.json file, or a path that does not exist, maps to one problem.
    """
    report: dict[Path, list[str]] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not files:
                report[path] = [f"{path}: directory contains no *.json result files"]
            for file in files:
                report[file] = validate_file(file)
        elif path.exists():
            report[path] = validate_file(path)
        else:
            report[path] = [f"{path}: no such file or directory"]
    # Two valid files of one run (a copy, or ids that once left the architecture out).
    valid = {
        p: json.loads(p.read_text()) for p, found in report.items() if p.is_file() and not found
    }
    for rid, files in duplicate_ids(valid).items():
        for file in files:
            report[file].append(f"{file}: {duplicate_message(rid, files)}")
    return report


def format_report(problems: Mapping[Path, list[str]]) -> str:
    """Render validate_paths output: one line per problem, then 'N files checked, M malformed'."""
    lines = [message for messages in problems.values() for message in messages]
    checked = [path for path in problems if not path.is_dir()]
    malformed = sum(1 for path in checked if problems[path])
    summary = f"{len(checked)} files checked, {malformed} malformed"
    empty_dirs = sum(1 for path in problems if path.is_dir())
    if empty_dirs:
        summary += f", {empty_dirs} directories without result files"
    return "\n".join([*lines, summary])


def check_results(paths: Sequence[str | Path]) -> tuple[str, int]:
    """CLI entry: validate `paths`; return (report text, exit code 0 if all valid else 1)."""
    problems = validate_paths(paths)
    failed = not problems or any(problems.values())
    report = format_report(problems) if problems else "no paths given"
    return report, int(failed)
