"""The latent bridge: sender hidden states -> K receiver soft tokens, in three architectures.

`perceiver` (the default) is the module behind the paper's numbers (method.md §1,
`latent_bridge_v15.py`), not the paper's prose: latent queries at the receiver's width, an input
Linear only when the two widths differ, `depth` pre-LN blocks of cross-attention ->
self-attention -> 4x FFN, no final LayerNorm, then per-token RMS normalisation times one
learnable scalar.

`mlp` and `linear` are the exp003 "architectures" ablation (method.md §1.4: Perceiver 92.0, MLP
91.5, linear on mean-pooled states 91.5 on SST-2). method.md records their scores, not their
code, so they are built from its one-line description: a masked mean over the sender's real
tokens, then one Linear (`linear`) or Linear -> GELU -> Linear (`mlp`) to K x d_receiver. All
three share the Perceiver's output head, so only the mapping differs between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from telepathy.experiment.config import BRIDGE_ARCHITECTURES

RMS_EPS = 1e-8  # method.md §1.1 step 5


@dataclass(frozen=True)
class BridgeShape:
    """Everything that fixes the bridge's parameter shapes (what a checkpoint must match).

    depth, n_heads and ffn_mult only shape the Perceiver; the pooled architectures ignore them.
    """

    d_sender: int
    d_receiver: int
    # The soft-token count (RunConfig.soft_tokens). It keeps this name because checkpoints and
    # train records store vars(shape) as `bridge_shape`, and a rename would change that content.
    n_soft_tokens: int
    depth: int = 2
    n_heads: int = 8
    ffn_mult: int = 4
    normalize_sender: bool = False  # corrected protocol: non-affine LayerNorm on sender states
    # Last, with the default every checkpoint before it implied, so old shapes still read.
    architecture: str = "perceiver"


@dataclass
class BridgeOutput:
    """Soft tokens plus the diagnostics the training log records."""

    soft_tokens: torch.Tensor  # (batch, n_soft_tokens, d_receiver)
    # scalar: variance of the pre-norm latents over batch and K, averaged over d (logging only)
    pre_norm_variance: torch.Tensor


class PerceiverBlock(nn.Module):
    """One pre-LN block: latents cross-attend to the sender, self-attend, then a 4x GELU FFN."""

    def __init__(self, d_model: int, n_heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.ln_cross = nn.LayerNorm(d_model)
        self.cross_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
        self.ln_self = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
        self.ln_ffn = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_mult * d_model),
            nn.GELU(),
            nn.Linear(ffn_mult * d_model, d_model),
        )

    def forward(
        self, latents: torch.Tensor, sender_states: torch.Tensor, sender_padding: torch.Tensor
    ) -> torch.Tensor:
        """latents (B, K, d); sender_states (B, T, d), not layer-normed (as the original)."""
        query = self.ln_cross(latents)
        attended, _ = self.cross_attn(
            query, sender_states, sender_states, key_padding_mask=sender_padding, need_weights=False
        )
        latents = latents + attended
        query = self.ln_self(latents)
        attended, _ = self.self_attn(query, query, query, need_weights=False)
        latents = latents + attended
        return latents + self.ffn(self.ln_ffn(latents))


class Bridge(nn.Module):
    """What every architecture shares: the sender LayerNorm option, the output head, `.shape`.

    Subclasses build their own layers and call `_add_output_scale` last, so the Perceiver keeps
    the parameter creation order (and so the seeded initial weights) it has always had.
    """

    shape: BridgeShape
    output_scale: nn.Parameter

    def __init__(self, shape: BridgeShape, output_scale_init: float) -> None:
        super().__init__()
        if shape.n_soft_tokens <= 0:
            raise ValueError(f"n_soft_tokens must be >= 1, got {shape.n_soft_tokens}")
        if not output_scale_init > 0:
            raise ValueError(f"output_scale_init must be > 0, got {output_scale_init}")
        self.shape = shape
        # The original "StatisticalNormalizer" was an identity in every paper run; a parameter-free
        # LayerNorm is the fix that made the small pair learn (small-models.md).
        self.sender_norm: nn.Module = (
            nn.LayerNorm(shape.d_sender, elementwise_affine=False)
            if shape.normalize_sender
            else nn.Identity()
        )

    def _add_output_scale(self, output_scale_init: float) -> None:
        self.output_scale = nn.Parameter(torch.tensor(float(output_scale_init)))

    def _input(self, sender_states: torch.Tensor) -> torch.Tensor:
        """The cast to the bridge's dtype happens here, at the one input boundary (pitfall 3)."""
        return self.sender_norm(sender_states.to(self.output_scale.dtype))

    def _head(self, latents: torch.Tensor) -> BridgeOutput:
        """Per-token unit RMS times the learnable scale; latents (B, K, d_receiver)."""
        latents32 = latents.float()
        pre_norm_variance = latents32.var(dim=(0, 1), unbiased=False).mean().detach()
        soft = unit_rms(latents32).to(latents.dtype) * self.output_scale  # (B, K, d_receiver)
        return BridgeOutput(soft_tokens=soft, pre_norm_variance=pre_norm_variance)

    def forward(self, sender_states: torch.Tensor, sender_mask: torch.Tensor) -> BridgeOutput:
        """Args: sender_states (B, T, d_sender) in any dtype; sender_mask (B, T), 1 = real token."""
        raise NotImplementedError


class PerceiverBridge(Bridge):
    """Map sender states (B, T, d_sender) to K soft tokens (B, K, d_receiver) for the receiver."""

    def __init__(self, shape: BridgeShape, output_scale_init: float) -> None:
        super().__init__(shape, output_scale_init)
        if shape.d_receiver % shape.n_heads:
            raise ValueError(
                f"receiver width {shape.d_receiver} is not divisible by n_heads={shape.n_heads}"
            )
        self.input_proj: nn.Module = (
            nn.Linear(shape.d_sender, shape.d_receiver)
            if shape.d_sender != shape.d_receiver
            else nn.Identity()
        )
        self.latents = nn.Parameter(torch.randn(shape.n_soft_tokens, shape.d_receiver) * 0.02)
        self.blocks = nn.ModuleList(
            PerceiverBlock(shape.d_receiver, shape.n_heads, shape.ffn_mult)
            for _ in range(shape.depth)
        )
        self._add_output_scale(output_scale_init)

    def forward(self, sender_states: torch.Tensor, sender_mask: torch.Tensor) -> BridgeOutput:
        """Args: sender_states (B, T, d_sender) in any dtype; sender_mask (B, T), 1 = real token."""
        states = self.input_proj(self._input(sender_states))  # (B, T, d_receiver)
        padding = ~sender_mask.bool()  # (B, T): True where the key must be ignored
        batch = states.shape[0]
        latents = self.latents.unsqueeze(0).expand(batch, -1, -1)  # (B, K, d_receiver)
        for block in self.blocks:
            latents = block(latents, states, padding)
        return self._head(latents)


class PooledBridge(Bridge):
    """Masked mean over the sender's real tokens, then `self.mapping` to K x d_receiver.

    The base of the exp003 `linear` and `mlp` ablations: one vector per input carries everything,
    so these test whether the Perceiver's per-token attention matters.
    """

    mapping: nn.Module

    def forward(self, sender_states: torch.Tensor, sender_mask: torch.Tensor) -> BridgeOutput:
        """Args: sender_states (B, T, d_sender) in any dtype; sender_mask (B, T), 1 = real token."""
        pooled = masked_mean(self._input(sender_states), sender_mask)  # (B, d_sender)
        flat = self.mapping(pooled)  # (B, K * d_receiver)
        latents = flat.view(-1, self.shape.n_soft_tokens, self.shape.d_receiver)
        return self._head(latents)


class LinearBridge(PooledBridge):
    """Masked mean-pool -> Linear(d_sender, K * d_receiver) -> (B, K, d_receiver)."""

    def __init__(self, shape: BridgeShape, output_scale_init: float) -> None:
        super().__init__(shape, output_scale_init)
        self.mapping = nn.Linear(shape.d_sender, shape.n_soft_tokens * shape.d_receiver)
        self._add_output_scale(output_scale_init)


class MLPBridge(PooledBridge):
    """Masked mean-pool -> Linear(d_sender, d_receiver) -> GELU -> Linear(d_receiver, K * d_r)."""

    def __init__(self, shape: BridgeShape, output_scale_init: float) -> None:
        super().__init__(shape, output_scale_init)
        self.mapping = nn.Sequential(
            nn.Linear(shape.d_sender, shape.d_receiver),
            nn.GELU(),
            nn.Linear(shape.d_receiver, shape.n_soft_tokens * shape.d_receiver),
        )
        self._add_output_scale(output_scale_init)


# Keyed by config.BRIDGE_ARCHITECTURES (the setting's values, checked before any model loads);
# tests/test_bridge.py checks the two agree.
BRIDGE_CLASSES: dict[str, type[Bridge]] = {
    "perceiver": PerceiverBridge,
    "mlp": MLPBridge,
    "linear": LinearBridge,
}


def make_bridge(shape: BridgeShape, output_scale_init: float) -> Bridge:
    """A freshly initialised bridge of `shape.architecture` (on the default device, fp32)."""
    try:
        cls = BRIDGE_CLASSES[shape.architecture]
    except KeyError:
        raise ValueError(
            f"unknown bridge architecture {shape.architecture!r}; expected one of "
            f"{', '.join(BRIDGE_ARCHITECTURES)}"
        ) from None
    return cls(shape, output_scale_init)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where mask is 1: states (B, T, d), mask (B, T) -> (B, d).

    Padding is zeroed with a select, not multiplied by 0, so even inf/NaN there cannot leak in.
    A row with no real token pools to zeros rather than dividing by zero. The sum and division
    run in fp32 (bf16 holds integers exactly only up to 256, fewer than a long input's tokens);
    the result comes back in the states' dtype.
    """
    keep = mask.bool().unsqueeze(-1)  # (B, T, 1)
    total = states.masked_fill(~keep, 0).float().sum(dim=1)  # (B, d)
    count = keep.sum(dim=1).clamp_min(1).float()  # (B, 1)
    return (total / count).to(states.dtype)


def unit_rms(vectors: torch.Tensor) -> torch.Tensor:
    """Rescale every vector along the last dim to RMS 1 (method.md §1.1 step 5), in fp32.

    Shared by the bridge's output head, prompt tuning's identical head (§5.5) and the noise
    control, so all three put their soft tokens on the same scale.
    """
    vectors = vectors.float()
    rms = vectors.pow(2).mean(dim=-1, keepdim=True).add(RMS_EPS).sqrt()  # (..., 1)
    return vectors / rms


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters, counted from the module itself (never a hand formula)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
