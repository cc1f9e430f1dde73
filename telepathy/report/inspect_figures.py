"""Figures from `telepathy inspect-bridge` files: soft-token projections and attention maps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors
import numpy as np
from matplotlib.figure import Figure

from telepathy.report.figure_style import new_figure, plain_text, style

RANDOM_STATE = 42
MAX_LEGEND_CLASSES = 20  # beyond this (banking77's 77 intents) a legend is unreadable
MAX_TOKEN_LABELS = 80  # x tick labels per attention map before every n-th is skipped


@dataclass(frozen=True)
class InspectionFile:
    """What `inspect-bridge` wrote; attention arrays are None for pooled (linear/mlp) bridges."""

    path: Path
    metadata: dict[str, Any]
    soft_tokens: np.ndarray  # (N, K, d_receiver)
    labels: np.ndarray  # (N,) gold label strings
    label_names: np.ndarray
    ids: np.ndarray
    attention: np.ndarray | None  # (n_items, n_blocks, K, T)
    attention_tokens: np.ndarray | None  # (n_items, T), "" past each item's tokens
    attention_n_tokens: np.ndarray | None  # (n_items,)

    @property
    def title(self) -> str:
        m = self.metadata
        return plain_text(
            f"{m['dataset']} ({m['pair']}, {m['architecture']} bridge, K={m['soft_tokens']}, "
            f"seed {m['seed']})"
        )


def load_inspection(path: Path) -> InspectionFile:
    """Read an inspect-bridge .npz (plain arrays only: no pickles are loaded)."""
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("soft_tokens", "labels", "metadata_json") if k not in data]
        if missing:
            raise ValueError(f"{path}: not an inspect-bridge file; missing arrays {missing}")
        has_attention = "attention" in data
        return InspectionFile(
            path=Path(path),
            metadata=json.loads(str(data["metadata_json"])),
            soft_tokens=data["soft_tokens"],
            labels=data["labels"],
            label_names=data["label_names"],
            ids=data["ids"],
            attention=data["attention"] if has_attention else None,
            attention_tokens=data["attention_tokens"] if has_attention else None,
            attention_n_tokens=data["attention_n_tokens"] if has_attention else None,
        )


# ----------------------------------------------------------------------------- projection


def tsne_perplexity(n_items: int) -> float:
    """sklearn's default 30 where it fits; t-SNE needs perplexity < the number of items."""
    return float(min(30.0, max(1.0, (n_items - 1) / 3)))


def projections(mean_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(PCA 2-D, t-SNE 2-D, PCA explained-variance ratios) of (N, D) vectors."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    pca = PCA(n_components=2, random_state=RANDOM_STATE).fit(mean_tokens)
    tsne = TSNE(
        n_components=2,
        perplexity=tsne_perplexity(len(mean_tokens)),
        init="pca",
        random_state=RANDOM_STATE,
    )
    return (
        pca.transform(mean_tokens),
        tsne.fit_transform(mean_tokens),
        pca.explained_variance_ratio_,
    )


def _class_colors(names: Sequence[str]) -> dict[str, Any]:
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    if len(names) > 20:
        return {n: matplotlib.colormaps["hsv"](i / len(names)) for i, n in enumerate(names)}
    return {n: cmap.colors[i] for i, n in enumerate(names)}


def soft_token_projection_figure(npz_paths: Sequence[Path]) -> Figure:
    """PCA and t-SNE of each item's soft tokens averaged over the K tokens, coloured by gold
    class: one row per inspect-bridge file."""
    if not npz_paths:
        raise ValueError("no inspect-bridge files given for the soft-token projection")
    files = [load_inspection(Path(p)) for p in npz_paths]
    for f in files:
        if len(f.labels) < 3:
            raise ValueError(f"{f.path}: {len(f.labels)} items; a projection needs at least 3")
    with style():
        fig = new_figure(10.0, 3.8 * len(files))
        axes = fig.subplots(len(files), 2, squeeze=False)
        for (ax_pca, ax_tsne), f in zip(axes, files, strict=True):
            mean_tokens = f.soft_tokens.astype(np.float64).mean(axis=1)  # (N, d_receiver)
            pca, tsne, variance = projections(mean_tokens)
            seen = set(f.labels.tolist())
            names = [n for n in f.label_names.tolist() if n in seen]
            names += sorted(seen - set(names))
            colors = _class_colors(names)
            for name in names:
                rows = f.labels == name
                for ax, points in ((ax_pca, pca), (ax_tsne, tsne)):
                    ax.scatter(
                        points[rows, 0],
                        points[rows, 1],
                        s=12,
                        color=colors[name],
                        alpha=0.8,
                        label=plain_text(f"{name} ({int(rows.sum())})"),
                        edgecolors="none",
                    )
            n = len(f.labels)
            ax_pca.set_title(f"{f.title}\nPCA, N = {n} eval items")
            ax_pca.set_xlabel(f"PC1 ({100 * variance[0]:.1f}% of variance)")
            ax_pca.set_ylabel(f"PC2 ({100 * variance[1]:.1f}% of variance)")
            ax_tsne.set_title(
                f"{f.title}\nt-SNE (perplexity {tsne_perplexity(n):.1f}, "
                f"random_state {RANDOM_STATE}), N = {n}"
            )
            ax_tsne.set_xlabel("t-SNE 1 (arbitrary units)")
            ax_tsne.set_ylabel("t-SNE 2 (arbitrary units)")
            if len(names) <= MAX_LEGEND_CLASSES:
                ax_tsne.legend(
                    title="gold class (items)", loc="center left", bbox_to_anchor=(1, 0.5)
                )
            else:
                ax_tsne.text(
                    1.02, 0.5, f"{len(names)} classes\n(no legend)", transform=ax_tsne.transAxes
                )
        fig.suptitle(
            "Soft tokens in 2-D: each dot is one eval item's K soft tokens averaged over K "
            "(receiver scale), coloured by gold class"
        )
    return fig


# ----------------------------------------------------------------------------- attention


def token_label(token: str) -> str:
    """A sender token as an axis label: newlines and tabs visible, `$` literal, "" marked."""
    shown = token.replace("\n", "\\n").replace("\t", "\\t")
    return plain_text(shown) if shown.strip() else repr(shown)


def attention_maps_figure(npz_path: Path) -> Figure:
    """Cross-attention of the Perceiver's last block (K queries x the item's sender tokens,
    heads averaged) for each item whose attention inspect-bridge kept."""
    f = load_inspection(Path(npz_path))
    with style():
        if f.attention is None:
            # A pooled bridge reads one mean vector: there is no map to draw, and the figure
            # says so rather than leaving an empty frame.
            fig = new_figure(7.0, 1.6)
            fig.text(
                0.5,
                0.5,
                f"{f.title}\nhas no cross-attention: the {f.metadata['architecture']} bridge "
                "mean-pools the sender states,\nso no per-token attention map exists.",
                ha="center",
                va="center",
            )
            return fig
        n_items, n_blocks, soft_tokens, _ = f.attention.shape
        longest = int(f.attention_n_tokens.max())
        fig = new_figure(
            min(18.0, max(9.0, 0.14 * longest + 2.5)), (1.0 + 0.09 * soft_tokens) * n_items + 1
        )
        axes = fig.subplots(n_items, 1, squeeze=False)[:, 0]
        # One colour scale for every item, so maps compare; 0 (padding) is never drawn.
        last = [f.attention[i, -1, :, : int(f.attention_n_tokens[i])] for i in range(n_items)]
        norm = matplotlib.colors.Normalize(
            vmin=min(w.min() for w in last), vmax=max(w.max() for w in last)
        )
        for i, ax in enumerate(axes):
            n_tokens = int(f.attention_n_tokens[i])
            weights = last[i]  # (K, T_i), the last block
            image = ax.imshow(
                weights, aspect="auto", cmap="viridis", interpolation="nearest", norm=norm
            )
            stride = max(1, -(-n_tokens // MAX_TOKEN_LABELS))
            ticks = np.arange(0, n_tokens, stride)
            labels = [token_label(str(f.attention_tokens[i, t])) for t in ticks]
            ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
            ax.set_yticks(
                np.arange(soft_tokens)
                if soft_tokens <= 16
                else np.linspace(0, soft_tokens - 1, 9).round()
            )
            ax.set_ylabel("soft token k")
            ax.grid(False)
            every = "" if stride == 1 else f", every {stride}th token labelled"
            ax.set_title(
                plain_text(
                    f"item {f.ids[i]} (gold: {f.labels[i]}): {n_tokens} sender tokens{every}"
                ),
                loc="left",
            )
        fig.colorbar(image, ax=list(axes), label="attention weight", pad=0.01, shrink=0.8)
        axes[-1].set_xlabel("sender token")
        fig.suptitle(
            f"{f.title}\ncross-attention of the last Perceiver block (block {n_blocks} of "
            f"{n_blocks}), averaged over heads; each row sums to 1 over the item's tokens"
        )
    return fig
