"""Noise soft tokens: the bridge's slot filled with random vectors, no training (method.md §5.8).

The receiver reads [primer ++ K noise vectors], the bridge's framing with the bridge's K, at
the scale the bridge's soft tokens start from: per-token RMS s0 = scale_init_factor x the
receiver's median embedding RMS (exactly the median under `corrected`). Era B drew 32 i.i.d.
N(0, 0.003²) vectors and scored 0.0 %. Each item's noise is drawn from its own generator seeded
by (seed, item id), so it is fresh per item yet does not depend on batch size or order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from telepathy.baselines.receiver_inputs import evaluate_generator
from telepathy.bridge import unit_rms
from telepathy.data import Example
from telepathy.evaluate import EvalReport, generate_from_embeds
from telepathy.framing import Framing
from telepathy.models.pair import LoadedPair


def item_noise_seed(seed: int, uid: str) -> int:
    """A 63-bit generator seed from the run seed and an item id (stable across processes)."""
    digest = hashlib.sha256(f"{seed}\x00{uid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def noise_soft_tokens(
    uids: Sequence[str],
    n_tokens: int,
    width: int,
    rms: float,
    seed: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Gaussian directions rescaled to per-token RMS `rms`, one draw per item: (B, K, width)."""
    if not rms > 0:
        raise ValueError(f"rms must be > 0, got {rms}")
    rows = []
    for uid in uids:
        generator = torch.Generator().manual_seed(item_noise_seed(seed, uid))
        rows.append(torch.randn(n_tokens, width, generator=generator))  # (K, width), CPU draw
    noise = unit_rms(torch.stack(rows)) * rms  # (B, K, width)
    return noise.to(device=device, dtype=dtype)


def evaluate_noise(
    pair: LoadedPair,
    framing: Framing,
    examples: Sequence[Example],
    *,
    rms: float,
    seed: int,
    batch_size: int = 16,
    progress: bool = False,
) -> EvalReport:
    """Greedy decoding from [primer ++ noise] for each item, scored as the bridge's eval."""
    receiver = pair.receiver.model
    embed = receiver.get_input_embeddings()
    n_tokens, width = framing.cfg.soft_tokens, pair.receiver.hidden_size

    def generate(batch: Sequence[Example]) -> list[str]:
        noise = noise_soft_tokens(
            [e.uid for e in batch], n_tokens, width, rms, seed, device=pair.device
        )  # (B, K, d)
        prefix = framing.receiver_prefix(noise, embed)  # (B, P + K, d): the bridge's slot
        mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
        return generate_from_embeds(receiver, framing, prefix, mask)

    return evaluate_generator(framing, examples, generate, batch_size=batch_size, progress=progress)
