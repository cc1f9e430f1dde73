"""The one look of every paper figure, and a Figure that needs no pyplot or display.

Builders draw inside `style()` on `new_figure(...)`; `save_figure` writes with the same style.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    # TrueType in the PDF: text stays text (searchable, editable), not Type 3 outlines.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}
COLORS = matplotlib.colormaps["tab10"].colors
PERCENT = 100.0  # accuracies are fractions in the run tables, percent on the axes


@contextmanager
def style() -> Iterator[None]:
    """Apply STYLE while drawing or saving (rc settings are read at both times)."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout Figure on its own Agg canvas (no pyplot: no global figure state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def add_note(fig: Figure, text: str) -> None:
    """A footnote under the axes (e.g. which runs are missing and so not drawn); the layout
    keeps it clear of the axes, so figure legends go at the top."""
    fig.supxlabel(text, fontsize=7, ha="left", x=0.01, color="0.3")


def missing_text(missing: Sequence[str]) -> str:
    """'Not drawn, N run(s) missing: a, b, ...' with at most six ids spelled out."""
    shown = ", ".join(missing[:6])
    if len(missing) > 6:
        shown += f", ... ({len(missing) - 6} more)"
    return f"Not drawn, {len(missing)} run(s) missing: {shown}"


def plain_text(text: str) -> str:
    """Text as matplotlib should print it literally: `$` would start mathtext."""
    return text.replace("$", r"\$")
