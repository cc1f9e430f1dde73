"""inspect-bridge on the tiny pair, and every paper figure drawn from small synthetic inputs.

The figure checks read the drawn artists back (line y data, band polygon, bar widths, image
pixels) and compare them with numbers computed by hand here, so a wrong plot fails.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_config

from telepathy.cli import main
from telepathy.data import get_dataset, load_examples
from telepathy.framing import Framing
from telepathy.inspect_bridge import Inspection, inspect_bridge, inspection_arrays
from telepathy.latency.summary import summarise_trials
from telepathy.models.pair import build_bridge, sender_states
from telepathy.report import figures
from telepathy.report.figure_builders import save_figure
from telepathy.report.inspect_figures import tsne_perplexity
from telepathy.results.atomic import atomic_write_npz
from telepathy.results.checkpoint import save_checkpoint
from telepathy.results.latency_record import read_latency_records
from telepathy.results.merge import COLUMNS
from telepathy.train import final_bridge_state

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """Wilson score interval, written out from its textbook formula."""
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def assert_written(fig, tmp_path: Path, name: str) -> None:
    pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
    save_figure(fig, pdf, png)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


# ----------------------------------------------------------------------------- inspect-bridge


def bridge_file(tiny_pair, path: Path, architecture: str) -> Path:
    """A final-bridge file (random weights) in the layout `telepathy train` writes."""
    cfg = tiny_config(bridge_architecture=architecture)
    torch.manual_seed(3)
    untrained = SimpleNamespace(  # the fields of a TrainOutcome that final_bridge_state reads
        bridge=build_bridge(cfg, tiny_pair, 0.05),
        steps_completed=0,
        output_scale_init=0.05,
        embedding_rms=0.05,
    )
    save_checkpoint(path, final_bridge_state(cfg, tiny_pair, untrained))
    return path


def tiny_batch(tiny_pair, n_items: int):
    """cfg, framing, the first eval items, their sender batch and states, and a fresh
    Perceiver in eval mode (as inspect-bridge and eval run it)."""
    cfg = tiny_config()
    spec = get_dataset(cfg.dataset)
    framing = Framing(cfg, spec, tiny_pair.sender.tokenizer, tiny_pair.receiver.tokenizer)
    examples = load_examples(spec, "eval", task_seed=cfg.task_seed)[:n_items]
    sender_in = framing.sender_batch(examples, tiny_pair.device)
    states = sender_states(
        tiny_pair.sender, sender_in.input_ids, sender_in.attention_mask, cfg.source_layer
    )
    torch.manual_seed(5)
    bridge = build_bridge(cfg, tiny_pair, 0.05).eval()
    return framing, examples, sender_in, states, bridge


def inspect_args(bridge: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "inspect-bridge",
        "--bridge",
        str(bridge),
        "--pair",
        "tiny",
        "--output",
        str(out),
        "--threads",
        "2",
        "--no-progress",
        "--cache-dir",
        str(cache),
        *extra,
    ]


@pytest.fixture(scope="module")
def perceiver_npz(tiny_pair, model_cache, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inspect")
    bridge = bridge_file(tiny_pair, folder / "bridge.pt", "perceiver")
    out = folder / "inspect.npz"
    # batch size 2 with 3 attention items: the kept maps span two batches of different T
    argv = inspect_args(bridge, out, model_cache, "--max-items", "10", "--batch-size", "2")
    assert main([*argv, "--attention-items", "3"]) == 0
    return out


def test_inspect_bridge_writes_soft_tokens_labels_and_attention(perceiver_npz):
    cfg = tiny_config()
    spec = get_dataset(cfg.dataset)
    first = load_examples(spec, "eval", task_seed=cfg.task_seed)[:10]
    with np.load(perceiver_npz, allow_pickle=False) as data:
        assert data["soft_tokens"].shape == (10, cfg.soft_tokens, 96)  # tiny receiver width 96
        assert data["soft_tokens"].dtype == np.float32
        assert data["ids"].tolist() == [e.uid for e in first]
        assert data["labels"].tolist() == [e.label for e in first]
        assert data["label_names"].tolist() == list(spec.label_names)
        attention, n_tokens = data["attention"], data["attention_n_tokens"]
        tokens = data["attention_tokens"]
        assert json.loads(str(data["metadata_json"]))["architecture"] == "perceiver"
    assert attention.shape == (3, cfg.depth, cfg.soft_tokens, n_tokens.max())
    assert tokens.shape == (3, n_tokens.max())
    for i in range(3):
        real = attention[i, :, :, : n_tokens[i]]
        # each query's weights sum to 1 over the item's real tokens; padding gets nothing
        np.testing.assert_allclose(real.sum(-1), 1.0, atol=1e-5)
        assert (attention[i, :, :, n_tokens[i] :] == 0).all()
        assert all(t == "" for t in tokens[i, n_tokens[i] :])
    assert len(set(n_tokens.tolist())) > 1  # items of different lengths were padded


def test_recorded_attention_is_softmax_of_the_first_blocks_queries_and_keys(tiny_pair):
    """Block 0's weights recomputed from the projection matrices, head by head."""
    framing, examples, sender_in, states, bridge = tiny_batch(tiny_pair, 3)
    got = inspect_bridge(bridge, tiny_pair, framing, examples, n_attention_items=3)
    block, d, heads = bridge.blocks[0], bridge.shape.d_receiver, bridge.shape.n_heads
    with torch.no_grad():
        keys_in = bridge.input_proj(bridge._input(states))  # (B, T, d)
        w, b = block.cross_attn.in_proj_weight, block.cross_attn.in_proj_bias
        q = block.ln_cross(bridge.latents) @ w[:d].T + b[:d]  # (K, d)
        k = keys_in @ w[d : 2 * d].T + b[d : 2 * d]  # (B, T, d)
        q = q.view(-1, heads, d // heads).transpose(0, 1)  # (H, K, dh)
        k = k.view(k.shape[0], k.shape[1], heads, d // heads).permute(0, 2, 3, 1)  # (B, H, dh, T)
        scores = (q.unsqueeze(0) @ k) / math.sqrt(d // heads)  # (B, H, K, T)
        pad = ~sender_in.attention_mask.bool()[:, None, None, :]
        expected = scores.masked_fill(pad, -math.inf).softmax(-1).mean(1)  # (B, K, T)
    for i in range(3):
        n = int(sender_in.attention_mask[i].sum())
        np.testing.assert_allclose(got.attention[i, 0, :, :n], expected[i, :, :n], atol=1e-5)
        assert got.attention_tokens[i][:n] == [
            tiny_pair.sender.tokenizer.decode([t]) for t in sender_in.input_ids[i, :n].tolist()
        ]


def test_recording_attention_leaves_the_soft_tokens_unchanged(tiny_pair):
    framing, examples, sender_in, states, bridge = tiny_batch(tiny_pair, 6)
    plain = inspect_bridge(bridge, tiny_pair, framing, examples, n_attention_items=0)
    hooked = inspect_bridge(bridge, tiny_pair, framing, examples, n_attention_items=6)
    assert plain.attention is None and hooked.attention is not None
    assert np.array_equal(plain.soft_tokens, hooked.soft_tokens)
    # and they are the bridge's own output on the same batch (all 6 items: one batch of 16)
    with torch.no_grad():
        direct = bridge(states, sender_in.attention_mask).soft_tokens.numpy()
    np.testing.assert_array_equal(hooked.soft_tokens, direct)
    assert all(not block.cross_attn._forward_hooks for block in bridge.blocks)  # removed


def test_pooled_bridge_stores_no_attention(tiny_pair, model_cache, tmp_path):
    bridge = bridge_file(tiny_pair, tmp_path / "bridge.pt", "mlp")
    out = tmp_path / "mlp.npz"
    assert main(inspect_args(bridge, out, model_cache, "--max-items", "4")) == 0
    with np.load(out, allow_pickle=False) as data:
        assert data["soft_tokens"].shape[0] == 4
        assert not {"attention", "attention_tokens", "attention_n_tokens"} & set(data.files)
    fig = figures.attention_maps_figure(out)
    assert "has no cross-attention" in fig.texts[0].get_text()
    assert_written(fig, tmp_path, "attention_mlp")


# ----------------------------------------------------------------------------- run tables


def run_rows(specs: list[tuple]) -> pd.DataFrame:
    """Merged-table rows from (studies, dataset, K, layer, seed, n_correct, status) tuples."""
    rows = []
    for studies, dataset, k, layer, seed, n_correct, status in specs:
        row = dict.fromkeys(COLUMNS)
        row.update(
            run_id=f"bridge/dec2025/paper/{dataset}/perceiver/k{k}/l{layer}/seed{seed}",
            status=status,
            protocol="dec2025",
            method="bridge",
            studies=studies,
            pair="paper",
            dataset=dataset,
            architecture="perceiver",
            soft_tokens=k,
            source_layer=layer,
            seed=seed,
        )
        if status == "complete":
            row.update(n_examples=200, n_correct=n_correct, accuracy=n_correct / 200)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


ABLATION = run_rows(
    [
        ("soft_tokens", "sst2", 4, 16, 1, 150, "complete"),
        ("soft_tokens", "sst2", 4, 16, 2, 160, "complete"),
        ("main+soft_tokens+source_layer", "sst2", 8, 16, 1, 180, "complete"),
        ("main+soft_tokens+source_layer", "sst2", 8, 16, 2, 184, "complete"),
        ("soft_tokens", "sst2", 32, 16, 1, 190, "complete"),
        ("soft_tokens", "sst2", 32, 16, 2, 0, "missing"),
        ("source_layer", "sst2", 8, 8, 1, 120, "complete"),
        ("source_layer", "sst2", 8, 8, 2, 130, "complete"),
    ]
)


def test_token_ablation_draws_means_wilson_bands_and_seeds(tmp_path):
    fig = figures.token_ablation_figure(ABLATION)
    k_axis, layer_axis, _legend = fig.axes
    mean_line = k_axis.lines[0]
    # K=4: (150+160)/400 = 77.5 %; K=8: (180+184)/400 = 91.0 %; K=32 has a missing seed
    assert mean_line.get_xdata().tolist() == [4, 8]
    np.testing.assert_allclose(mean_line.get_ydata(), [77.5, 91.0])
    band = k_axis.collections[0].get_paths()[0].vertices
    for k, n_correct in ((4, 310), (8, 364)):
        ys = band[np.isclose(band[:, 0], k), 1]
        lo, hi = wilson_by_hand(n_correct, 400)
        np.testing.assert_allclose([ys.min(), ys.max()], [100 * lo, 100 * hi])
    seed_dots = k_axis.lines[1]
    np.testing.assert_allclose(seed_dots.get_ydata(), [75.0, 80.0])
    assert k_axis.get_xscale() == "log"
    np.testing.assert_allclose(layer_axis.lines[0].get_ydata(), [62.5, 91.0])  # layers 8, 16
    assert "bridge/dec2025/paper/sst2/perceiver/k32/l16/seed2" in fig._supxlabel.get_text()
    assert_written(fig, tmp_path, "token_ablation")


def test_token_ablation_without_the_study_names_it():
    with pytest.raises(ValueError, match="study soft_tokens"):
        figures.token_ablation_figure(ABLATION[ABLATION.studies == "source_layer"])


def write_training_run(workdir: Path, seed: int, losses: list[float], sims: list[float]) -> str:
    """A train JSON and its metrics log as the workflow lays them out under `workdir`; the
    recorded metrics path is relative to `workdir`, as `telepathy train` writes it there."""
    run = Path(f"results/dec2025/train/paper/sst2/seed{seed}")
    (workdir / run).mkdir(parents=True)
    lines = [
        {"step": i + 1, "loss": loss + 0.1 * sim, "lm_loss": loss, "batch_similarity": sim}
        for i, (loss, sim) in enumerate(zip(losses, sims, strict=True))
    ]
    lines[-1] |= {"quick_eval_accuracy": 0.75, "quick_eval_invalid_rate": 0.0}
    (workdir / run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    record = {
        "hyperparameters": {"diversity_weight": 0.1, "quick_eval_n": 50},
        "artifacts": {"bridge": str(run / "bridge.pt"), "metrics": str(run / "metrics.jsonl")},
    }
    (workdir / run / "train.json").write_text(json.dumps(record))
    return str(workdir / run / "train.json")


def test_training_curves_follow_the_logged_values(tmp_path):
    workdir = tmp_path / "workflow"  # not the test's cwd: the path must resolve from the JSON
    runs = run_rows(
        [
            ("main", "sst2", 8, 16, 1, 180, "complete"),
            ("main", "sst2", 8, 16, 2, 0, "missing_eval"),
            ("main", "sst2", 8, 16, 3, 0, "missing"),
        ]
    )
    runs.loc[0, "train_result"] = write_training_run(workdir, 1, [3.0, 2.0, 1.0], [0.9, 0.5, 0.2])
    runs.loc[1, "train_result"] = write_training_run(workdir, 2, [4.0, 2.5, 1.5], [0.8, 0.6, 0.4])
    fig = figures.training_curves_figure(runs)
    loss_ax, lm_ax, diversity_ax, similarity_ax, eval_ax = fig.axes
    # per-step lines (thin; the moving average is off for 3 steps): one per seed
    np.testing.assert_allclose(lm_ax.lines[0].get_ydata(), [3.0, 2.0, 1.0])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [4.08, 2.56, 1.54])  # lm + 0.1·sim
    np.testing.assert_allclose(diversity_ax.lines[0].get_ydata(), [0.09, 0.05, 0.02])
    np.testing.assert_allclose(similarity_ax.lines[1].get_ydata(), [0.8, 0.6, 0.4])
    assert eval_ax.lines[0].get_xydata().tolist() == [[3.0, 75.0]]
    assert "quick_eval_n = 50" in eval_ax.get_ylabel()
    assert "bridge/dec2025/paper/sst2/perceiver/k8/l16/seed3" in fig._supxlabel.get_text()
    assert_written(fig, tmp_path, "training_curves")


# ----------------------------------------------------------------------------- latency

TRIALS = {  # ms per phase, three trials; each phase's median is the middle value by hand
    "bridge": [
        {"tokenize": 1.0, "sender_encode": 10.0, "bridge": 2.0, "receiver_prefill": 5.0},
        {"tokenize": 3.0, "sender_encode": 12.0, "bridge": 1.0, "receiver_prefill": 6.0},
        {"tokenize": 2.0, "sender_encode": 11.0, "bridge": 3.0, "receiver_prefill": 4.0},
    ],
    "text_relay": [
        {"tokenize": 1.0, "sender_prefill": 9.0, "sender_decode": 50.0, "receiver_prefill": 7.0},
        {"tokenize": 1.0, "sender_prefill": 8.0, "sender_decode": 60.0, "receiver_prefill": 7.0},
        {"tokenize": 1.0, "sender_prefill": 7.0, "sender_decode": 55.0, "receiver_prefill": 8.0},
    ],
}
MEDIANS = {  # by hand from TRIALS, in PHASE_ORDER
    "bridge": [2.0, 11.0, 2.0, 5.0],
    "text_relay": [1.0, 8.0, 55.0, 7.0],
}


def latency_record() -> dict:
    results = []
    for method, phase_trials in TRIALS.items():
        trials = [{**t, "total": sum(t.values())} for t in phase_trials]
        phases = list(phase_trials[0])
        summary = summarise_trials(trials, phases, batch_size=1)
        results.append({"method": method, "batch_size": 1, "n_trials": 3, **summary})
    return {
        "mode": {"weights": "random_weights"},
        "pair": {"name": "tiny"},
        "dataset": "synth_sentiment",
        "soft_tokens": 8,
        "device": "cpu (2 threads)",
        "results": results,
    }


def test_latency_bars_stack_the_phase_medians(tmp_path):
    fig = figures.latency_breakdown_figure([latency_record()])
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: (-p.get_y(), p.get_x()))  # bridge row first
    widths = [p.get_width() for p in bars]
    assert widths == MEDIANS["bridge"] + MEDIANS["text_relay"]
    lefts = [p.get_x() for p in bars[:4]]
    assert lefts == [0.0, 2.0, 13.0, 15.0]  # cumulative sums of the bridge medians
    # the diamond marks the median total: bridge totals 18, 22, 20 ms -> 20
    assert ax.lines[0].get_xdata()[0] == 20.0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bridge", "text relay"]
    assert_written(fig, tmp_path, "latency_breakdown")


def test_latency_inputs_are_validated(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(latency_record()))
    with pytest.raises(ValueError, match="not a valid latency record"):
        read_latency_records([path])
    with pytest.raises(ValueError, match="no bridge, text_relay or direct_text"):
        figures.latency_breakdown_figure([{**latency_record(), "results": []}])


# ----------------------------------------------------------------------------- inspections


def synthetic_npz(path: Path, n: int = 24, k: int = 4, with_attention: bool = True) -> Path:
    """Two well-separated classes; attention rows that sum to 1 over 5 and 7 tokens."""
    rng = np.random.default_rng(0)
    labels = [("negative", "positive")[i % 2] for i in range(n)]
    centre = np.where(np.array(labels) == "positive", 3.0, -3.0)[:, None, None]
    soft = (centre + rng.normal(size=(n, k, 16))).astype(np.float32)
    attention = rng.random((2, 2, k, 7)).astype(np.float32)
    attention[0, :, :, 5:] = 0
    attention /= attention.sum(-1, keepdims=True)
    tokens = [["Re", "view", ":", " $5", "\n", "", ""], ["a", "b", "c", "d", "e", "f", "g"]]
    inspection = Inspection(
        ids=[f"item{i}" for i in range(n)],
        labels=labels,
        soft_tokens=soft,
        attention=attention if with_attention else None,
        attention_tokens=tokens if with_attention else [],
        attention_n_tokens=[5, 7] if with_attention else [],
    )
    metadata = {"dataset": "sst2", "pair": "paper", "architecture": "perceiver"}
    metadata |= {"soft_tokens": k, "seed": 1}
    atomic_write_npz(path, inspection_arrays(inspection, ["negative", "positive"], metadata))
    return path


def test_projection_is_pca_of_the_mean_over_k(tmp_path):
    npz = synthetic_npz(tmp_path / "a.npz")
    fig = figures.soft_token_projection_figure([npz, synthetic_npz(tmp_path / "b.npz", n=9)])
    assert len(fig.axes) == 4  # two rows (files) x PCA, t-SNE
    with np.load(npz) as data:
        mean = data["soft_tokens"].astype(np.float64).mean(axis=1)
        labels = data["labels"]
    centred = mean - mean.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T  # PCA by SVD, up to the sign of each axis
    pca_ax = fig.axes[0]
    for collection, name in zip(pca_ax.collections, ["negative", "positive"], strict=True):
        got = collection.get_offsets()
        want = expected[labels == name]
        np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=1e-6, atol=1e-8)
    assert tsne_perplexity(9) < 9 and tsne_perplexity(1000) == 30.0
    assert_written(fig, tmp_path, "projection")


def test_attention_map_shows_the_last_block_with_token_labels(tmp_path):
    npz = synthetic_npz(tmp_path / "a.npz")
    fig = figures.attention_maps_figure(npz)
    first = fig.axes[0]  # axes: item 0, item 1, then their colourbars
    with np.load(npz) as data:
        np.testing.assert_array_equal(first.images[0].get_array(), data["attention"][0, -1, :, :5])
    labels = [t.get_text() for t in first.get_xticklabels()]
    assert labels == ["Re", "view", ":", r" \$5", "\\n"]  # `$` literal, newline visible
    assert fig.axes[1].images[0].get_array().shape == (4, 7)
    assert_written(fig, tmp_path, "attention")


def test_figure_command_writes_pdf_and_png(tmp_path):
    csv = tmp_path / "runs.csv"
    ABLATION.to_csv(csv, index=False)
    pdf, png = tmp_path / "out" / "k.pdf", tmp_path / "out" / "k.png"
    assert (
        main(["figure", "token_ablation", "--runs", str(csv), "--pdf", str(pdf), "--png", str(png)])
        == 0
    )
    assert pdf.stat().st_size > 1000 and png.stat().st_size > 1000
    npz = synthetic_npz(tmp_path / "a.npz")
    argv = ["figure", "attention_maps", "--inspect", str(npz), str(npz)]
    assert main([*argv, "--pdf", str(pdf), "--png", str(png)]) == 1  # one file only
    argv = ["figure", "latency_breakdown", "--runs", str(csv)]
    assert main([*argv, "--pdf", str(pdf), "--png", str(png)]) == 1  # wrong input kind


@pytest.mark.parametrize("command", ["inspect-bridge", "figure"])
def test_figure_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0 and "usage: telepathy" in capsys.readouterr().out
