"""The paper's figures as pure functions: run tables, latency records or inspections in, Figures.

Every builder draws on a `Figure` with its own Agg canvas (never pyplot, so no global figure
state and no display needed) inside figure_style.style(). The two built from `inspect-bridge`
files live in inspect_figures and are re-exported here, so every figure has one address.
Numbers come only from the inputs: run summaries (telepathy.report.runs), training logs
(telepathy.report.curves), latency records (schema latency.v1) and `inspect-bridge` files.
A figure with nothing to draw raises ValueError naming what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.lines
import matplotlib.patches
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from telepathy.report.curves import TrainingCurve, main_study_curves
from telepathy.report.figure_style import (
    COLORS,
    PERCENT,
    add_note,
    missing_text,
    new_figure,
    plain_text,
    style,
)
from telepathy.report.inspect_figures import attention_maps_figure, soft_token_projection_figure
from telepathy.report.runs import Summary, in_study, summarise

__all__ = [
    "attention_maps_figure",
    "latency_breakdown_figure",
    "plot_training_curves",
    "soft_token_projection_figure",
    "token_ablation_figure",
    "training_curves_figure",
]


# ----------------------------------------------------------------------------- 1 token ablation

_ABLATIONS = {
    "soft_tokens": ("soft_tokens", "soft tokens K (log2 scale)", "Accuracy vs soft tokens K"),
    "source_layer": (
        "source_layer",
        "sender source layer (hidden_states index)",
        "Accuracy vs sender source layer",
    ),
}


@dataclass(frozen=True)
class AblationCurve:
    """One line of an ablation panel: cells by the ablated setting, and items per run."""

    cells: dict[int, Summary]
    items_per_run: tuple[int, ...]  # the eval items of each complete run (one value, usually)


def ablation_cells(runs: pd.DataFrame, study: str) -> dict[str, AblationCurve]:
    """Bridge runs of `study`, grouped into curves (one per protocol/pair/dataset/architecture,
    labelled by what varies) of cells by the ablated setting."""
    setting = _ABLATIONS[study][0]
    rows = in_study(runs, study)
    rows = rows[rows.method == "bridge"]
    keys = ["protocol", "pair", "dataset", "architecture"]
    varying = [k for k in keys if rows[k].nunique() > 1 or k == "dataset"]
    curves: dict[str, AblationCurve] = {}
    for values, group in rows.groupby(keys, sort=True):
        label = " / ".join(str(v) for k, v in zip(keys, values, strict=True) if k in varying)
        items = group.loc[group.status == "complete", "n_examples"].astype(int)
        curves[label] = AblationCurve(
            cells={int(x): summarise(cell) for x, cell in group.groupby(setting)},
            items_per_run=tuple(sorted(set(items))),
        )
    return curves


def _draw_ablation(
    ax: Any, curves: dict[str, AblationCurve], study: str, colors: dict[str, Any]
) -> list[str]:
    """Mean line, Wilson band and seed dots per curve; returns the missing run ids."""
    _, xlabel, title = _ABLATIONS[study]
    missing: list[str] = []
    all_x: set[int] = set()
    n_seeds: set[int] = set()
    for label, curve in curves.items():
        color, cells = colors[label], curve.cells
        done = {x: s for x, s in sorted(cells.items()) if s.complete}
        missing += [m for s in cells.values() for m in s.missing]
        if not done:
            continue
        xs = np.array(list(done))
        mean = np.array([s.mean for s in done.values()]) * PERCENT
        band = np.array([s.wilson for s in done.values()]) * PERCENT  # (n_x, 2)
        n_seeds |= {len(s.accuracies) for s in done.values()}
        per_run = "/".join(str(n) for n in curve.items_per_run)
        ax.plot(
            xs,
            mean,
            "o-",
            color=color,
            markersize=4,
            label=plain_text(f"{label} (N = {per_run} eval items per run)"),
        )
        ax.fill_between(xs, band[:, 0], band[:, 1], color=color, alpha=0.18, linewidth=0)
        for x, s in done.items():
            ax.plot(
                [x] * len(s.accuracies),
                np.array(s.accuracies) * PERCENT,
                ".",
                color=color,
                alpha=0.6,
                markersize=5,
            )
        all_x |= set(done)
    if study == "soft_tokens":
        ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(all_x), [str(x) for x in sorted(all_x)])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    seeds = "/".join(str(n) for n in sorted(n_seeds))
    ax.set_title(f"{title}\n{seeds} seeds per point")
    return missing


def token_ablation_figure(runs: pd.DataFrame) -> Figure:
    """Accuracy vs K (study soft_tokens) per dataset, and vs source layer if that study ran.

    Lines: mean over seeds; bands: 95% Wilson CI of the items pooled over seeds; dots: the
    single seeds. A cell with a missing run is not drawn and is named in a footnote.
    """
    studies = [s for s in _ABLATIONS if not in_study(runs, s).query("method == 'bridge'").empty]
    if "soft_tokens" not in studies:
        raise ValueError("no bridge runs in study soft_tokens in the run tables given")
    with style():
        fig = new_figure(max(7.0, 5.0 * len(studies)), 4.8)
        # a bottom row just for the legend: the layout engine then keeps it clear of the
        # axes, the title and the footnote (a figure-level legend is not laid out with them)
        panels = fig.subplot_mosaic([studies, ["legend"] * len(studies)], height_ratios=[1.0, 0.1])
        axes = np.array([[panels[s] for s in studies]])
        missing: list[str] = []
        curves = {study: ablation_cells(runs, study) for study in studies}
        labels = sorted({label for c in curves.values() for label in c})
        # one colour per dataset (curve) in both panels
        colors = {label: COLORS[i % len(COLORS)] for i, label in enumerate(labels)}
        for ax, study in zip(axes[0], studies, strict=True):
            missing += _draw_ablation(ax, curves[study], study, colors)
            if not ax.lines:
                raise ValueError(
                    f"study {study}: every cell has missing runs, nothing to draw: {missing}"
                )
        # one legend for both panels (same colour per curve)
        shown = {h.get_label(): h for ax in axes[0] for h in ax.lines if h.get_label()[0] != "_"}
        panels["legend"].axis("off")
        panels["legend"].legend(
            shown.values(),
            shown.keys(),
            loc="center",
            ncols=min(len(shown), 2 if len(studies) == 1 else 3),
            title="line = mean over seeds, band = 95% Wilson CI of the items pooled over "
            "seeds, dots = single seeds",
        )
        fig.suptitle(f"Bridge accuracy by ablation (studies: {', '.join(studies)})")
        if missing:
            add_note(fig, missing_text(missing))
    return fig


# ----------------------------------------------------------------------------- 2 training curves

_CURVE_ROWS = (
    ("loss", "total loss\n(LM + λ·similarity)"),
    ("lm_loss", "LM loss (nats/token)"),
    ("diversity", "diversity term\nλ·batch similarity"),
    ("batch_similarity", "batch similarity\n(mean cosine)"),
)


def _curve_values(curve: TrainingCurve, key: str) -> np.ndarray:
    if key == "diversity":  # the loss's second term, as losses.bridge_loss_terms adds it
        return curve.diversity_weight * curve.terms["batch_similarity"]
    return curve.terms[key]


def smoothing_window(n_steps: int) -> int:
    """Steps in the centred moving average drawn over the raw curve (2% of the run, odd)."""
    return max(1, (n_steps // 50) | 1)


def plot_training_curves(curves: Sequence[TrainingCurve], missing: Sequence[str] = ()) -> Figure:
    """Loss terms and batch similarity vs step: one column per dataset, one line per seed.

    Thin lines are the logged per-step values; thick lines their centred moving average.
    """
    if not curves:
        raise ValueError(
            "no training logs of study main bridge runs"
            + (f"; missing runs: {list(missing)}" if missing else "")
        )
    columns: dict[str, list[TrainingCurve]] = {}
    several_pairs = len({(c.protocol, c.pair) for c in curves}) > 1
    for c in curves:
        name = f"{c.protocol} / {c.pair} / {c.dataset}" if several_pairs else c.dataset
        columns.setdefault(name, []).append(c)
    with_evals = any(len(c.quick_eval_steps) for c in curves)
    sizes = sorted({c.quick_eval_n for c in curves if c.quick_eval_n})
    items = f"\n(quick_eval_n = {'/'.join(map(str, sizes))})" if sizes else ""
    rows = [
        *_CURVE_ROWS,
        *((("quick_eval", f"quick-eval accuracy (%){items}"),) if with_evals else ()),
    ]
    with style():
        fig = new_figure(3.4 * len(columns), 1.9 * len(rows))
        axes = fig.subplots(len(rows), len(columns), squeeze=False, sharex="col")
        for col, (name, group) in enumerate(columns.items()):
            window = smoothing_window(max(len(c.steps) for c in group))
            seeds = sorted(group, key=lambda c: c.seed)
            handles = []
            for i, curve in enumerate(seeds):
                color = COLORS[i % len(COLORS)]
                handles.append(matplotlib.lines.Line2D([], [], color=color))
                for row, (key, _) in enumerate(rows):
                    ax = axes[row, col]
                    if key == "quick_eval":
                        ax.plot(
                            curve.quick_eval_steps,
                            curve.quick_eval_accuracy * PERCENT,
                            "o-",
                            color=color,
                            markersize=3,
                        )
                        continue
                    values = _curve_values(curve, key)
                    ax.plot(curve.steps, values, color=color, alpha=0.3, linewidth=0.6)
                    if window > 1:
                        smooth = pd.Series(values).rolling(window, center=True, min_periods=1)
                        ax.plot(curve.steps, smooth.mean().to_numpy(), color=color, linewidth=1.4)
            axes[0, col].set_title(
                f"{plain_text(name)}: {len(group)} seed(s)\nmoving average over {window} steps"
            )
            axes[-1, col].set_xlabel("optimiser step")
            axes[0, col].legend(handles, [f"seed {c.seed}" for c in seeds], loc="upper right")
        for row, (_, label) in enumerate(rows):
            axes[row, 0].set_ylabel(label)
        fig.suptitle("Bridge training curves (study main): thin = per step, thick = moving average")
        if missing:
            add_note(fig, missing_text(missing))
    return fig


def training_curves_figure(runs: pd.DataFrame) -> Figure:
    """Training curves of the main study's bridge runs, read through their train JSONs."""
    curves, missing = main_study_curves(runs)
    return plot_training_curves(curves, missing)


# ----------------------------------------------------------------------------- 3 latency

LATENCY_METHODS = ("bridge", "text_relay", "direct_text")  # train_step is not an inference path
METHOD_LABELS = {"bridge": "bridge", "text_relay": "text relay", "direct_text": "direct text"}
# Sender phases in blues, receiver phases in reds, the bridge green: a reader sees which model
# the time goes to before reading the legend.
PHASE_COLORS = {
    "tokenize": "#9e9e9e",
    "sender_encode": "#1f4e9c",
    "sender_prefill": "#1f4e9c",
    "sender_decode": "#7fa6db",
    "relay_handoff": "#8e5fb0",
    "bridge": "#2e9b4a",
    "receiver_prefill": "#b2202c",
    "receiver_decode": "#f08a80",
}
PHASE_ORDER = (
    "tokenize",
    "sender_encode",
    "sender_prefill",
    "sender_decode",
    "relay_handoff",
    "bridge",
    "receiver_prefill",
    "receiver_decode",
)


def latency_groups(records: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(group label, result rows of the inference methods) per record and batch size."""
    groups = []
    for record in records:
        weights = record["mode"]["weights"].replace("_", " ")
        by_batch: dict[int, list[dict[str, Any]]] = {}
        for row in record["results"]:
            if row["method"] in LATENCY_METHODS:
                by_batch.setdefault(row["batch_size"], []).append(row)
        for batch, rows in sorted(by_batch.items()):
            rows.sort(key=lambda r: LATENCY_METHODS.index(r["method"]))
            label = (
                f"{record['pair']['name']} / {record['dataset']} / K={record['soft_tokens']} / "
                f"batch {batch} / {weights} / {record['device']}"
            )
            groups.append((label, rows))
    return groups


def latency_breakdown_figure(records: Sequence[dict[str, Any]]) -> Figure:
    """Stacked horizontal bars of per-phase median ms per method, one panel per record and
    batch size; a diamond marks each method's median total (phase medians need not add up
    to it exactly)."""
    groups = latency_groups(records)
    if not groups:
        raise ValueError("no bridge, text_relay or direct_text results in the latency records")
    phases = [p for p in PHASE_ORDER if any(p in r["phases_ms"] for _, g in groups for r in g)]
    phases += sorted({p for _, g in groups for r in g for p in r["phases_ms"]} - set(phases))
    extra = matplotlib.colormaps["tab10"].colors
    colors = {p: PHASE_COLORS.get(p, extra[i % 10]) for i, p in enumerate(phases)}
    heights = [0.9 + 0.45 * len(rows) for _, rows in groups]
    with style():
        fig = new_figure(9.0, sum(heights) + 1.0)
        axes = fig.subplots(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]
        for ax, (label, rows) in zip(axes, groups, strict=True):
            ys = np.arange(len(rows))[::-1]
            for y, row in zip(ys, rows, strict=True):
                left = 0.0
                for phase in phases:
                    if phase not in row["phases_ms"]:
                        continue
                    width = row["phases_ms"][phase]["median"]
                    ax.barh(y, width, left=left, color=colors[phase], height=0.6)
                    left += width
                total = row["total_ms"]["median"]
                ax.plot(total, y, "D", color="black", markersize=4)
                ax.annotate(
                    f"{total:.1f} ms (n={row['n_trials']})",
                    (max(total, left), y),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                )
            ax.set_yticks(ys, [METHOD_LABELS[r["method"]] for r in rows])
            ax.set_title(plain_text(label), loc="left")
            ax.set_xlabel("median latency per phase (ms), stacked")
            ax.margins(x=0.15)
            ax.grid(axis="y", visible=False)
        fig.legend(
            [matplotlib.patches.Patch(color=colors[p]) for p in phases],
            [p.replace("_", " ") for p in phases],
            loc="outside lower center",
            ncols=min(len(phases), 4),
        )
        fig.suptitle(
            "Latency per phase: bars stack each phase's median over trials; "
            "◆ = median total ms (n = timed trials)"
        )
    return fig
