"""Each of the paper's figures by name: which input files it reads (`FIGURE_INPUTS`), the
function that draws it, and the atomic write of its PDF and PNG.

The names are `grid.products.FIGURE_NAMES` (a test keeps the two equal); matplotlib loads only
when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Which input option (--runs, --latency, --inspect) each figure reads.
FIGURE_INPUTS = {
    "token_ablation": "runs",
    "training_curves": "runs",
    "latency_breakdown": "latency",
    "soft_token_projection": "inspect",
    "attention_maps": "inspect",
}


def save_figure(fig: Any, pdf: Path, png: Path) -> None:
    """Write `fig` as PDF (paper) and PNG (HTML report), each via a temp file and a rename."""
    from telepathy.report.figure_style import style
    from telepathy.results.atomic import atomic_write_with

    with style():  # savefig reads rc settings (font embedding, dpi, bbox) when it writes
        for path, fmt in ((pdf, "pdf"), (png, "png")):
            atomic_write_with(path, lambda handle, fmt=fmt: fig.savefig(handle, format=fmt))


def _builder(name: str) -> Callable[[list[Path]], Any]:
    from telepathy.report import figures
    from telepathy.results.latency_record import read_latency_records
    from telepathy.results.merged_table import load_runs

    def attention(paths: list[Path]) -> Any:
        if len(paths) != 1:
            raise ValueError(f"attention_maps draws one inspect-bridge file, got {len(paths)}")
        return figures.attention_maps_figure(paths[0])

    return {
        "token_ablation": lambda paths: figures.token_ablation_figure(load_runs(paths)),
        "training_curves": lambda paths: figures.training_curves_figure(load_runs(paths)),
        "latency_breakdown": lambda paths: figures.latency_breakdown_figure(
            read_latency_records(paths)
        ),
        "soft_token_projection": figures.soft_token_projection_figure,
        "attention_maps": attention,
    }[name]


def build_figure(name: str, paths: list[Path]) -> Any:
    """Figure `name` drawn from `paths`, the files of the one input kind it reads."""
    if name not in FIGURE_INPUTS:
        raise ValueError(f"unknown figure {name!r}; expected one of {', '.join(FIGURE_INPUTS)}")
    if not paths:
        raise ValueError(f"figure {name} reads --{FIGURE_INPUTS[name]} files; none were given")
    return _builder(name)(paths)
