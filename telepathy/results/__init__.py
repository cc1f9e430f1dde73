"""Run-result files: the versioned schema, its validator, and provenance collection."""

from telepathy.results.provenance import collect_provenance, config_digest, utc_now
from telepathy.results.validate import (
    SCHEMA_VERSION,
    check_results,
    format_report,
    ids_digest,
    load_schema,
    validate_file,
    validate_paths,
    validate_result,
)

__all__ = [
    "SCHEMA_VERSION",
    "check_results",
    "collect_provenance",
    "config_digest",
    "format_report",
    "ids_digest",
    "load_schema",
    "utc_now",
    "validate_file",
    "validate_paths",
    "validate_result",
]
