"""Tests for telepathy.results.atomic: complete files or nothing, never temp-file leftovers."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from telepathy.results import atomic
from telepathy.results.atomic import atomic_torch_save, atomic_write_json, atomic_write_text


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_text_creates_parents_and_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    returned = atomic_write_text(target, "héllo\n")
    assert returned == target
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert _leftovers(target.parent) == []


def test_write_text_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    atomic_write_text(str(target), "new")
    assert target.read_text() == "new"


def test_written_file_gets_umask_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # mkstemp makes 0600 files; results must stay readable like a normally created file.
    monkeypatch.setattr(atomic, "_UMASK", 0o022)
    target = atomic_write_text(tmp_path / "out.txt", "x")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_write_json_format(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    obj = {"z": 1, "a": [1.5, None, "ü"]}
    atomic_write_json(target, obj)
    text = target.read_text(encoding="utf-8")
    assert json.loads(text) == obj
    assert text.index('"z"') < text.index('"a"')  # key order kept (sort_keys=False)
    assert '\n  "z": 1' in text  # indent 2
    assert text.endswith("\n")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_write_json_refuses_non_finite_and_keeps_old_file(tmp_path: Path, bad: float) -> None:
    target = tmp_path / "r.json"
    target.write_text('{"ok": true}')
    with pytest.raises(ValueError, match=r"metrics\.loss\[1\]"):
        atomic_write_json(target, {"metrics": {"loss": [0.1, bad]}})
    assert target.read_text() == '{"ok": true}'
    assert _leftovers(tmp_path) == []


def test_failed_write_removes_temp_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    atomic_torch_save({"w": torch.ones(2)}, target)

    class Unpicklable:
        def __reduce__(self) -> tuple[object, ...]:
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_torch_save({"w": Unpicklable()}, target)
    assert _leftovers(tmp_path) == []
    assert torch.equal(torch.load(target)["w"], torch.ones(2))


def test_torch_save_roundtrip(tmp_path: Path) -> None:
    state = {"bridge": {"weight": torch.arange(6.0).reshape(2, 3)}, "step": 7}
    target = atomic_torch_save(state, tmp_path / "ckpt" / "bridge.pt")
    loaded = torch.load(target)
    assert loaded["step"] == 7
    assert torch.equal(loaded["bridge"]["weight"], state["bridge"]["weight"])
    assert _leftovers(target.parent) == []


def test_failure_in_replace_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        atomic_write_text(tmp_path / "out.txt", "x")
    assert list(tmp_path.iterdir()) == []
