"""Training losses: LM cross-entropy on answer tokens and the batch-similarity diversity term."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def answer_lm_loss(
    logits: torch.Tensor, answer_ids: torch.Tensor, answer_mask: torch.Tensor
) -> torch.Tensor:
    """Mean next-token cross-entropy over the unmasked answer tokens, in fp32.

    Args:
        logits: (B, A, V), row j predicting answer token j (already shifted by the caller).
        answer_ids: (B, A) target ids; answer_mask: (B, A), 0 on padding (ignored).
    """
    targets = answer_ids.masked_fill(answer_mask == 0, -100)  # (B, A)
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100
    )


def batch_similarity(soft_tokens: torch.Tensor) -> torch.Tensor:
    """Mean off-diagonal cosine similarity of the flattened soft tokens (method.md §2.2).

    Each example's (K, d) soft tokens become one K*d vector; 1.0 means every input got the
    same soft tokens (collapse). The paper's entropy formula does not match the code; this is
    the code's version. Zero for a batch of one (there is no pair to compare).
    """
    batch = soft_tokens.shape[0]
    if batch < 2:
        return soft_tokens.new_zeros((), dtype=torch.float32)
    flat = F.normalize(soft_tokens.float().reshape(batch, -1), dim=-1)  # (B, K*d)
    sims = flat @ flat.T  # (B, B)
    off_diagonal = sims.sum() - sims.diagonal().sum()
    return off_diagonal / (batch * (batch - 1))


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in fp32 where labels != -100 (position t predicts t + 1).

    For receiver inputs whose loss positions differ per row (a text prompt of varying length);
    the bridge, whose answers all start at P + K, uses answer_lm_loss.

    Args:
        logits: (B, L, V) for every input position; labels: (B, L), -100 where no loss.
    """
    shifted = logits[:, :-1].float()  # (B, L - 1, V): position t predicts token t + 1
    return F.cross_entropy(
        shifted.reshape(-1, shifted.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
