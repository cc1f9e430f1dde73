"""Tests for telepathy.results.provenance."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from telepathy.results import provenance as prov
from telepathy.results.provenance import collect_provenance, config_digest, utc_now
from telepathy.results.validate import load_schema, validate_result

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results" / "eval_bridge_sst2.json"
DIGEST = "a" * 64
DATA = {
    "dataset": "sst2", "source": "hub", "repo_id": "nyu-mll/glue", "config": "sst2",
    "revision": "main", "revision_sha": "b" * 40, "snapshot": "results/data/sst2",
    "manifest_sha256": "c" * 64,
}  # fmt: skip


def _collect(**overrides: object) -> dict[str, object]:
    start = utc_now()
    kwargs: dict[str, object] = {
        "config_sha256": DIGEST,
        "started_at": start,
        "ended_at": start + timedelta(seconds=5),
        "device": "cpu",
        "data": DATA,
        **overrides,
    }
    return collect_provenance(**kwargs)  # type: ignore[arg-type]


def test_keys_match_schema_and_embed_validly() -> None:
    block = _collect()
    spec = load_schema()["properties"]["provenance"]
    assert set(block) == set(spec["required"]) == set(spec["properties"])

    result = json.loads(FIXTURE.read_text(encoding="utf-8"))
    result["provenance"] = block
    assert validate_result(result) == []


def test_values() -> None:
    block = _collect(device="cuda:0")
    assert block["python"] == platform.python_version()
    assert block["device"] == "cuda:0"
    assert block["config_sha256"] == DIGEST
    packages = block["packages"]
    assert isinstance(packages, dict)
    assert {"torch", "numpy"} <= set(packages)
    assert "no-such-package" not in packages
    assert isinstance(block["torch"], str) and block["torch"].startswith(packages["torch"][:4])
    started = datetime.fromisoformat(str(block["started_at"]))
    assert started.utcoffset() == timedelta(0)


def test_utc_now_is_aware() -> None:
    assert utc_now().tzinfo is not None


def test_config_digest_is_canonical() -> None:
    assert config_digest({"b": 1, "a": [1, 2]}) == config_digest({"a": [1, 2], "b": 1})
    expected = hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert config_digest({"b": 1, "a": [1, 2]}) == expected
    assert config_digest({"a": 1}) != config_digest({"a": 2})


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="config_sha256='ABC'"):
        _collect(config_sha256="ABC")
    with pytest.raises(ValueError, match=r"started_at=.* has no timezone"):
        _collect(started_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="device=''"):
        _collect(device="")


def test_other_timezones_are_kept() -> None:
    tz = timezone(timedelta(hours=-5))
    block = _collect(started_at=datetime(2026, 1, 1, 9, tzinfo=tz))
    assert block["started_at"] == "2026-01-01T09:00:00-05:00"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"SLURM_JOB_ID": "147104"}, "147104"),
        (
            {"SLURM_JOB_ID": "147200", "SLURM_ARRAY_JOB_ID": "147104", "SLURM_ARRAY_TASK_ID": "3"},
            "147104_3",
        ),
        ({"SLURM_JOB_ID": ""}, None),
    ],
)
def test_slurm_job_id(env: dict[str, str], expected: str | None) -> None:
    assert prov.slurm_job_id(env) == expected


def test_slurm_job_id_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "9")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert _collect()["slurm_job_id"] == "9_1"


def test_git_state_outside_a_checkout(tmp_path: Path) -> None:
    assert prov.git_state(tmp_path) == (None, None)


def test_git_state_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable anywhere on PATH
    assert prov.git_state(tmp_path) == (None, None)
    assert _collect()["git_commit"] is None


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_git_state_in_a_checkout(tmp_path: Path) -> None:
    try:
        _git(tmp_path, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "f.txt").write_text("x")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert prov.git_state(tmp_path) == (head, False)
    (tmp_path / "f.txt").write_text("changed")
    assert prov.git_state(tmp_path) == (head, True)


def test_git_state_ignores_a_gitignored_install(tmp_path: Path) -> None:
    try:
        _git(tmp_path, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    package = tmp_path / ".venv" / "site-packages" / "telepathy"
    package.mkdir(parents=True)
    assert prov.git_state(package) == (None, None)
