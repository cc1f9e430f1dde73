"""Atomic file writes: a reader (or a preempted SLURM job) never sees a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any


def _read_umask() -> int:
    # mkstemp creates files with mode 0600; restore the mode a plain open() would have given,
    # so result files stay readable by the group. os.umask can only be read by setting it,
    # which is done once at import time rather than racing other threads on every write.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(directory: Path) -> None:
    # The rename itself lives in the directory entry; without this a power loss can undo it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (e.g. certain network mounts) refuse fsync on directories
    finally:
        os.close(fd)


def _atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write via `write` into a unique temp file next to `path`, fsync it, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same directory so os.replace is a rename on one filesystem (atomic), and a unique name so
    # two writers (e.g. a requeued job and its ghost) never share a temp file.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        # BaseException too: a KeyboardInterrupt or SLURM's SIGTERM-turned-exception must not
        # leave stray temp files behind.
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write `text` as UTF-8 to `path`, creating parent directories."""
    data = text.encode("utf-8")
    return _atomic_write(path, lambda handle: handle.write(data))


def _first_non_finite(obj: Any, where: str = "") -> str | None:
    """Return the path of the first NaN/Infinity float inside `obj`, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "(top level)"
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _first_non_finite(value, f"{where}.{key}" if where else str(key))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found = _first_non_finite(value, f"{where}[{index}]")
            if found:
                return found
    return None


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write `obj` as indented JSON; NaN/Infinity raise ValueError instead."""
    try:
        # allow_nan=False: a NaN metric would be written as the non-JSON token NaN and later
        # read back as a number that compares false to everything.
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False)
    except ValueError as err:
        where = _first_non_finite(obj)
        raise ValueError(
            f"cannot write {path}: {err} (at {where}); result files must hold finite numbers, "
            "so fix the value or record it as null"
        ) from err
    return atomic_write_text(path, text + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Atomically `torch.save` `obj` to `path` (argument order follows torch.save)."""
    import torch  # imported here so result validation does not pay for loading torch

    return _atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Atomically write whatever `write(handle)` puts into a binary file handle (e.g. a
    matplotlib `savefig(handle, format=...)`), creating parent directories."""
    return _atomic_write(path, write)


def atomic_write_npz(path: str | os.PathLike[str], arrays: Mapping[str, Any]) -> Path:
    """Atomically write `arrays` as a compressed .npz (the name is kept exactly as given)."""
    import numpy as np  # imported here so plain JSON writers do not pay for numpy

    # A file handle, not a name: np.savez would append ".npz" to a name without one.
    return _atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
