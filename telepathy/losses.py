"""Training losses: LM cross-entropy on answer tokens, the batch-similarity diversity term, and
the bridge's loss terms of one micro-batch; and the optimiser that minimises them (`adamw`).

The micro-batch loss lives here, not in train.py, because three callers share it: the training
loop, the latency benchmark (which times a train step of exactly this loss, not a copy of it)
and prompt tuning (which puts its vectors in the bridge's slot and reads the same answer loss).
The optimiser is here for the same reason (the benchmarks' steps are `train`'s).
In shapes, K is the soft-token count (`RunConfig.soft_tokens`) and A the answer length.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from telepathy.bridge import Bridge
from telepathy.data import Example
from telepathy.experiment.config import RunConfig
from telepathy.framing import Framing
from telepathy.models.frozen_prefix import forward_after_prefix
from telepathy.models.pair import LoadedPair
from telepathy.models.sender_source import states_source


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


def labelled_next_token_loss(
    model: Any, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Mean next-token cross-entropy in fp32 of `model` reading `embeds`, where labels != -100.

    For receiver inputs whose loss positions differ per row (a text prompt of varying length);
    the bridge, whose answers all start at P + K, uses answer_lm_loss. Only the positions whose
    next token carries a label in some row go through the output head (logits_to_keep as a 1-D
    index tensor, which transformers >= 4.56 takes): the others have no target, so the mean is
    the same, without their vocabulary projection and fp32 cross-entropy. On the small pair
    (batch 8, one thread) prompt tuning's step went from 1.35 to 1.11 s, LoRA's from 1.20 to
    1.14 s (its loss covers the text too).

    Args:
        embeds: (B, L, d) receiver inputs, right-padded; attention_mask: (B, L).
        labels: (B, L) target ids, -100 where no loss.
    """
    targets = labels[:, 1:]  # (B, L - 1): position t predicts token t + 1
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)  # (n,) positions with a target
    logits = model(inputs_embeds=embeds, attention_mask=attention_mask, logits_to_keep=keep).logits
    kept = targets[:, keep]  # (B, n)
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), kept.reshape(-1), ignore_index=-100
    )


def bridge_loss_terms(
    cfg: RunConfig,
    pair: LoadedPair,
    framing: Framing,
    bridge: Bridge,
    embed: torch.nn.Module,
    batch: Sequence[Example],
) -> dict[str, torch.Tensor]:
    """Loss terms of one micro-batch: sender -> bridge -> receiver reading the answers."""
    sender = states_source(pair, framing)(batch)  # states (B, T, d_sender): live or cached
    out = bridge(sender.states, sender.attention_mask)  # soft tokens (B, K, d_receiver)
    labels = [e.label for e in batch]
    lm_loss = soft_token_answer_loss(pair.receiver.model, framing, out.soft_tokens, labels, embed)
    similarity = batch_similarity(out.soft_tokens)
    return {
        "loss": lm_loss + cfg.diversity_weight * similarity,
        "lm_loss": lm_loss,
        "batch_similarity": similarity,
        "pre_norm_var": out.pre_norm_variance,
    }


def soft_token_answer_loss(
    model: Any,
    framing: Framing,
    soft_tokens: torch.Tensor,
    labels: Sequence[str],
    embed: torch.nn.Module,
) -> torch.Tensor:
    """LM loss on the answers after [primer ++ soft tokens], the bridge's objective (§2.1).

    The prompt-tuning control puts its K vectors in the same slot and shares this.
    soft_tokens: (B, K, d_receiver).
    """
    answers = framing.answer_batch(labels, soft_tokens.device)  # (B, A)
    embeds, mask = framing.training_inputs(soft_tokens, answers, embed)  # (B, P+K+A, d)
    n_primer, n_answer = len(framing.primer_ids), answers.input_ids.shape[1]
    # The primer's keys and values are the same in every step (a frozen receiver, causal
    # attention): computed once, only [soft ++ answer] runs. Logits are kept only where answer
    # tokens are predicted: positions P+K-1 .. P+K+A-2.
    logits = forward_after_prefix(
        model,
        framing.primer_ids,
        embeds[:, n_primer:],
        mask,
        logits_to_keep=n_answer + 1,
    ).logits[:, :n_answer]  # (B, A, V)
    return answer_lm_loss(logits, answers.input_ids, answers.mask)


def adamw(
    parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where this torch has one for the parameters' device.

    The per-tensor loop took 83 ms of a small-pair bridge step on one CPU thread (11M
    parameters, ≈10 % of the step); the fused kernel 21 ms. Its sums differ from the loop's in
    the last bit (2e-7 after 8 steps), and a resumed run uses the same kernel as the first.
    torch < 2.4 has no CPU kernel: the loop then.
    """
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # "fused=True requires ... tensors of supported devices"
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
