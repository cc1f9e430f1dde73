"""Progress of long work as a person reads it: a live bar on a terminal, and in a log file
(a SLURM job's, a Snakemake rule's) one plain line per interval instead of carriage-return
redraws, so that a training log is a readable column of lines rather than one 30 kB line.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from tqdm import tqdm

TERMINAL_INTERVAL_S = 2.0
LOG_INTERVAL_S = 30.0  # a line every half minute: a 20-minute job logs ~40 lines


class _OneLinePerUpdate(io.TextIOBase):
    """A stream for tqdm that turns each redraw into its own line on stderr."""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _display() -> dict[str, Any]:
    """How to draw: redrawn in place on a terminal; in a file or a pipe, a line per
    LOG_INTERVAL_S and a last one at the end."""
    if sys.stderr.isatty():
        return {"mininterval": TERMINAL_INTERVAL_S}
    return {
        "file": _OneLinePerUpdate(),
        "mininterval": LOG_INTERVAL_S,
        "maxinterval": LOG_INTERVAL_S,
        "ncols": 100,
        "ascii": True,
    }


def progress_bar(
    total: int | None = None, *, desc: str, unit: str = "it", enabled: bool = True, **kwargs: Any
) -> tqdm:
    """A bar over `total` steps, updated by the caller (`bar.update(n)`)."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, **_display(), **kwargs)


def progress(iterable: Any, *, desc: str, unit: str = "it", enabled: bool = True) -> tqdm:
    """`iterable`, with a bar over it."""
    return tqdm(iterable, desc=desc, unit=unit, disable=not enabled, **_display())
