"""Look inside a trained bridge: its soft tokens and (Perceiver) cross-attention on eval items.

`telepathy inspect-bridge` writes what the soft-token projection and attention-map figures
read. The cross-attention weights come from a forward hook that, only while it is installed,
re-runs each block's `nn.MultiheadAttention` with need_weights=True on the same inputs and keeps
the weights. The block's own call (need_weights=False, the fused kernel) and so the soft tokens
are untouched: training, eval and latency never install the hook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from telepathy.bridge import Bridge, PerceiverBridge
from telepathy.data import Example
from telepathy.evaluate import eval_mode
from telepathy.framing import Framing
from telepathy.models.pair import LoadedPair, sender_states

log = logging.getLogger(__name__)


@dataclass
class Inspection:
    """Soft tokens of N eval items and the cross-attention of the first few (None: no attention).

    soft_tokens: (N, K, d_receiver) float32, the receiver-scale output (after the RMS head).
    attention: (n_items, n_blocks, K, T) float32, heads averaged; T = the longest of those
    items' real sender tokens, shorter items zero-padded (padding gets weight 0 anyway).
    attention_tokens: each item's sender tokens decoded one by one, padded with "" to T.
    attention_n_tokens: each of those items' number of real sender tokens.
    """

    ids: list[str]
    labels: list[str]
    soft_tokens: np.ndarray
    attention: np.ndarray | None
    attention_tokens: list[list[str]]
    attention_n_tokens: list[int]


@contextmanager
def recording_cross_attention(bridge: Bridge) -> Iterator[list[torch.Tensor]]:
    """While active, every Perceiver block's cross-attention appends its (B, K, T) weights
    (averaged over heads, in block order) to the yielded list."""
    if not isinstance(bridge, PerceiverBridge):
        raise ValueError(
            f"a {bridge.shape.architecture!r} bridge has no cross-attention (it mean-pools the "
            "sender states); only the perceiver has attention weights"
        )
    captured: list[torch.Tensor] = []

    def hook(module: torch.nn.MultiheadAttention, args: tuple, kwargs: dict, output: Any) -> None:
        query, key, value = args  # PerceiverBlock calls cross_attn(query, states, states, ...)
        # module.forward, not module(...): a direct forward call runs no hooks (no recursion).
        _, weights = module.forward(
            query,
            key,
            value,
            key_padding_mask=kwargs.get("key_padding_mask"),
            need_weights=True,
            average_attn_weights=True,
        )  # (B, K, T)
        captured.append(weights.detach().float())

    handles = [
        block.cross_attn.register_forward_hook(hook, with_kwargs=True) for block in bridge.blocks
    ]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def inspect_bridge(
    bridge: Bridge,
    pair: LoadedPair,
    framing: Framing,
    examples: Sequence[Example],
    *,
    n_attention_items: int = 4,
    batch_size: int = 16,
) -> Inspection:
    """Run sender + bridge on `examples`; keep the soft tokens and the first items' attention."""
    has_attention = isinstance(bridge, PerceiverBridge) and n_attention_items > 0
    tokenizer = framing.sender_tokenizer
    soft_rows: list[np.ndarray] = []
    maps: list[np.ndarray] = []  # one (n_blocks, K, T_i) per item
    tokens: list[list[str]] = []
    with eval_mode(bridge), torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            sender_in = framing.sender_batch(batch, pair.device)
            states = sender_states(
                pair.sender, sender_in.input_ids, sender_in.attention_mask, framing.cfg.source_layer
            )  # (B, T, d_sender)
            wanted = has_attention and len(maps) < n_attention_items
            recorder = recording_cross_attention(bridge) if wanted else nullcontext([])
            with recorder as captured:
                soft = bridge(states, sender_in.attention_mask).soft_tokens  # (B, K, d_receiver)
            soft_rows.append(soft.float().cpu().numpy())
            if not wanted:
                continue
            per_block = torch.stack(captured, dim=1).cpu()  # (B, n_blocks, K, T)
            for row in range(min(len(batch), n_attention_items - len(maps))):
                real = sender_in.attention_mask[row].bool().cpu()  # (T,)
                maps.append(per_block[row][:, :, real].numpy())  # (n_blocks, K, T_real)
                ids = sender_in.input_ids[row].cpu()[real].tolist()
                tokens.append([tokenizer.decode([token]) for token in ids])
    attention = None
    if maps:
        longest = max(m.shape[-1] for m in maps)
        attention = np.zeros((len(maps), *maps[0].shape[:2], longest), dtype=np.float32)
        for i, item in enumerate(maps):
            attention[i, :, :, : item.shape[-1]] = item
        tokens = [row + [""] * (longest - len(row)) for row in tokens]
    return Inspection(
        ids=[e.uid for e in examples],
        labels=[e.label for e in examples],
        soft_tokens=np.concatenate(soft_rows, axis=0),
        attention=attention,
        attention_tokens=tokens,
        attention_n_tokens=[m.shape[-1] for m in maps],
    )


def inspection_arrays(
    inspection: Inspection, label_names: Sequence[str], metadata: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The .npz contents: plain arrays only (no pickles), metadata as one JSON string."""
    arrays = {
        "soft_tokens": inspection.soft_tokens.astype(np.float32),
        "labels": np.array(inspection.labels, dtype=str),
        "label_names": np.array(list(label_names), dtype=str),
        "ids": np.array(inspection.ids, dtype=str),
        "metadata_json": np.array(json.dumps(metadata, sort_keys=True)),
    }
    if inspection.attention is not None:  # linear/mlp bridges: no attention keys at all
        arrays["attention"] = inspection.attention
        arrays["attention_tokens"] = np.array(inspection.attention_tokens, dtype=str)
        arrays["attention_n_tokens"] = np.array(inspection.attention_n_tokens, dtype=np.int64)
    return arrays


def inspect_trained_bridge(
    run: Any, *, max_items: int, attention_items: int, batch_size: int
) -> tuple[dict[str, np.ndarray], str]:
    """The .npz arrays of a trained bridge (`run`: models.run_inputs.TrainedBridgeRun) on the
    first `max_items` recorded eval items, and a one-line summary for the log."""
    inputs = run.inputs
    examples = inputs.eval_examples[:max_items]
    inspection = inspect_bridge(
        run.bridge,
        inputs.pair,
        inputs.framing,
        examples,
        n_attention_items=attention_items,
        batch_size=batch_size,
    )
    spec = inputs.framing.spec
    # Open-answer tasks have no label list; the labels seen stand in for it.
    label_names = spec.label_names or sorted(set(inspection.labels))
    metadata = {
        "bridge": str(run.path),
        "protocol": run.cfg.protocol,
        "pair": run.cfg.pair,
        "dataset": run.cfg.dataset,
        "seed": run.cfg.seed,
        "architecture": run.bridge.shape.architecture,
        "soft_tokens": run.cfg.soft_tokens,
        "source_layer": run.cfg.source_layer,
        "trained_steps": run.state["step"],
        "eval_examples": {**inputs.eval_desc, "inspected": f"first {len(examples)}"},
        "soft_token_scale": "receiver scale: unit RMS per token times output_scale",
    }
    summary = (
        f"inspected {len(examples)} items ({metadata['architecture']} bridge, attention of "
        f"{0 if inspection.attention is None else len(inspection.attention)})"
    )
    return inspection_arrays(inspection, label_names, metadata), summary
