"""`telepathy figure NAME`: read the inputs, build one figure, write its PDF and PNG atomically."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("telepathy")

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


def load_latency_records(paths: list[Path]) -> list[dict[str, Any]]:
    """Latency JSONs, each checked against schema latency.v1 and its consistency rules."""
    from telepathy.results.latency_record import validate_latency

    records = []
    for path in paths:
        record = json.loads(Path(path).read_text())
        problems = validate_latency(record)
        if problems:
            raise ValueError(f"{path} is not a valid latency record: {'; '.join(problems[:5])}")
        records.append(record)
    return records


def _builder(name: str) -> Callable[[Any], Any]:
    from telepathy.report import figures
    from telepathy.results.merged_table import load_runs

    def attention(paths: list[Path]) -> Any:
        if len(paths) != 1:
            raise ValueError(f"attention_maps draws one inspect-bridge file, got {len(paths)}")
        return figures.attention_maps_figure(paths[0])

    return {
        "token_ablation": lambda paths: figures.token_ablation_figure(load_runs(paths)),
        "training_curves": lambda paths: figures.training_curves_figure(load_runs(paths)),
        "latency_breakdown": lambda paths: figures.latency_breakdown_figure(
            load_latency_records(paths)
        ),
        "soft_token_projection": figures.soft_token_projection_figure,
        "attention_maps": attention,
    }[name]


def cmd_figure(args: argparse.Namespace) -> int:
    """Build figure `args.name` from the one input option it reads; write --pdf and --png."""
    wanted = FIGURE_INPUTS[args.name]
    given = getattr(args, wanted)
    if not given:
        raise ValueError(f"figure {args.name} reads --{wanted} files; none were given")
    fig = _builder(args.name)(given)
    save_figure(fig, args.pdf, args.png)
    log.info("figure %s -> %s, %s", args.name, args.pdf, args.png)
    return 0
