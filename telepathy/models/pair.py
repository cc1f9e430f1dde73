"""A loaded pair at run time: sender states, receiver embedding scale, and building the bridge."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from telepathy.bridge import Bridge, BridgeShape, make_bridge
from telepathy.experiment.config import RunConfig
from telepathy.experiment.pairs import PairSpec, get_pair
from telepathy.models.lms import LoadedLM, load_lm, read_models_manifest

log = logging.getLogger(__name__)


@dataclass
class LoadedPair:
    """The frozen LMs of a pair on one device.

    A side is None only when the run never loads it (receiver-only baselines such as prompt
    tuning, LoRA and the noise control; the sender-only linear probe); its revision is then
    recorded as null.
    """

    spec: PairSpec
    sender: LoadedLM | None
    receiver: LoadedLM | None
    device: torch.device

    def identity(self) -> dict[str, str | None]:
        """The pair block of a result file."""
        return {
            "name": self.spec.name,
            "sender_id": self.spec.sender.model_id,
            "receiver_id": self.spec.receiver.model_id,
            "sender_revision": self.sender.revision if self.sender else None,
            "receiver_revision": self.receiver.revision if self.receiver else None,
        }


PAIR_ROLES = ("sender", "receiver")


def load_pair(
    name: str,
    device: torch.device,
    cache_root: Path | None = None,
    roles: tuple[str, ...] = PAIR_ROLES,
    models: Path | None = None,
) -> LoadedPair:
    """Load and freeze a pair's sender and receiver (or only the `roles` a run needs).

    `models` is the prepare-models manifest: each LM then loads from the folder it records.
    """
    unknown = sorted(set(roles) - set(PAIR_ROLES))
    if unknown or not roles:
        raise ValueError(f"roles must be a non-empty subset of {PAIR_ROLES}, got {roles!r}")
    spec = get_pair(name)
    prepared = read_models_manifest(models, name) if models is not None else {}
    loaded = {
        role: load_lm(
            getattr(spec, role),
            device=device,
            cache_root=cache_root,
            pair_name=name,
            prepared=prepared.get(role),
        )
        for role in PAIR_ROLES
        if role in roles
    }
    sender, receiver = loaded.get("sender"), loaded.get("receiver")
    if sender is not None and sender.n_layers != spec.sender.n_layers:
        raise RuntimeError(
            f"{spec.sender.key} has {sender.n_layers} blocks, the registry says "
            f"{spec.sender.n_layers}; fix pairs.py so layer checks stay right"
        )
    log.info(
        "loaded pair %s on %s: %s",
        name,
        device,
        ", ".join(f"{role} {lm.load_seconds:.2f} s" for role, lm in loaded.items()),
    )
    return LoadedPair(spec, sender, receiver, device)


def decoder_stack(model: Any) -> Any:
    """The transformer stack of a causal LM, without its LM head: the sender's logits are never
    needed. `base_model` is it, except where a model's `base_model_prefix` names no attribute
    (transformers 4.56's Gemma3ForCausalLM: prefix `language_model`, stack `model`), where
    `base_model` is the whole model and a forward would compute 262k-word logits per token."""
    base = model.base_model
    return getattr(model, "model", model) if base is model else base


class _SourceLayerReached(Exception):
    """Raised by the hook on the source layer's block: the blocks above it never run."""


def sender_states(
    sender: LoadedLM, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int
) -> torch.Tensor:
    """hidden_states[layer] of the frozen sender, (B, T, d_sender); 0 = embeddings (pitfall 14).

    Only the blocks up to the source layer run: the output of block `layer - 1` is exactly
    `hidden_states[layer]` (the last entry alone has the final norm, so layer = n_layers takes
    the whole model), and every block above it would be thrown away. On the paper pair's layer
    16 of 32 that halves the frozen sender's FLOPs (tests/models check the tensors are equal).
    """
    base = decoder_stack(sender.model)
    blocks = getattr(base, "layers", None)
    with torch.no_grad():
        if layer == 0:
            return base.get_input_embeddings()(input_ids)  # (B, T, d_sender)
        if blocks is None or layer >= len(blocks):
            out = base(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
            return out.hidden_states[layer]
        captured: list[torch.Tensor] = []

        def stop(_module: torch.nn.Module, _args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _SourceLayerReached

        handle = blocks[layer - 1].register_forward_hook(stop)
        try:
            base(input_ids=input_ids, attention_mask=attention_mask)
        except _SourceLayerReached:
            pass
        finally:
            handle.remove()
    return captured[0]  # (B, T, d_sender)


def embedding_median_rms(receiver: LoadedLM, chunk: int = 8192) -> float:
    """Median over the vocabulary of the RMS of each input-embedding *module* output row (fp32).

    Measured on what the module returns, not the raw matrix: Gemma-3 multiplies by sqrt(d)
    inside its embedding module (weight RMS 0.041, module output RMS 1.03, small-models.md).
    """
    embed = receiver.model.get_input_embeddings()
    vocab = embed.weight.shape[0]
    rms = []
    with torch.no_grad():
        for start in range(0, vocab, chunk):
            ids = torch.arange(start, min(start + chunk, vocab), device=embed.weight.device)
            rows = embed(ids).float()  # (chunk, d)
            rms.append(rows.pow(2).mean(dim=-1).sqrt().cpu())
    return float(torch.cat(rms).median())


def bridge_dtype(cfg: RunConfig, device: torch.device) -> torch.dtype:
    """`auto` keeps the original's bf16 bridge on CUDA and uses fp32 on CPU."""
    if cfg.bridge_dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, cfg.bridge_dtype)


def bridge_shape(cfg: RunConfig, pair: LoadedPair) -> BridgeShape:
    """The bridge's shape for this config and pair."""
    return BridgeShape(
        d_sender=pair.sender.hidden_size,
        d_receiver=pair.receiver.hidden_size,
        n_soft_tokens=cfg.soft_tokens,
        depth=cfg.depth,
        n_heads=cfg.n_heads,
        ffn_mult=cfg.ffn_mult,
        normalize_sender=cfg.normalize_sender,
        architecture=cfg.bridge_architecture,
    )


def build_bridge(cfg: RunConfig, pair: LoadedPair, output_scale_init: float) -> Bridge:
    """A freshly initialised bridge of cfg.bridge_architecture on the pair's device and dtype.

    `eval` and `benchmark-latency --checkpoint` rebuild a trained bridge through this from the
    checkpoint's own config, so its architecture comes back with it.
    """
    bridge = make_bridge(bridge_shape(cfg, pair), output_scale_init)
    return bridge.to(device=pair.device, dtype=bridge_dtype(cfg, pair.device))
