"""How the receiver reads the input text in the receiver-side baselines, and how they decode.

Prompt tuning with text (method.md §5.5) and LoRA (§5.7) give the receiver the input itself.
Pitfall 2 asks baselines to share the bridge's wording, so the receiver reads the run's
sender_template with its field truncated to sender_max_tokens *receiver* tokens (the bridge's
truncation rule, pitfall 21), a newline, then the bridge's primer; training appends the same
answer string + EOS the bridge learns. No BOS, as in the bridge's receiver sequence (§2.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from telepathy.data import Example
from telepathy.evaluate import EvalReport, score_outputs
from telepathy.framing import Framing
from telepathy.results.progress import progress as progress_over

TEXT_PRIMER_SEPARATOR = "\n"
# Where the loss falls: the bridge's answer tokens only, or (LoRA's original, §5.7) every
# real token of prompt and answer.
LOSS_POSITIONS = ("answer", "prompt_and_answer")
IGNORE = -100  # label of positions without loss (the cross-entropy ignore_index)


@dataclass
class ReceiverBatch:
    """Ragged receiver rows stacked with padding."""

    embeds: torch.Tensor  # (B, L, d)
    attention_mask: torch.Tensor  # (B, L): 0 on padding
    labels: torch.Tensor | None  # (B, L): target ids, IGNORE where no loss; None to generate


def prompt_text(framing: Framing, example: Example) -> str:
    """The receiver's text prompt: the filled sender template, a newline, the primer."""
    body = framing.template_text(example, framing.receiver_tokenizer)
    return body + TEXT_PRIMER_SEPARATOR + framing.cfg.primer


def _answer_rows(framing: Framing, examples: Sequence[Example]) -> list[list[int]]:
    """Each example's answer tokens + EOS, from the bridge's own answer_batch (no padding)."""
    answers = framing.answer_batch([e.label for e in examples], torch.device("cpu"))
    pairs = zip(answers.input_ids, answers.mask, strict=True)
    return [ids[mask.bool()].tolist() for ids, mask in pairs]


def _stack(rows: Sequence[torch.Tensor], side: str, fill: float) -> torch.Tensor:
    """Stack rows (n_i, ...) into (B, max n_i, ...), padding on `side` with `fill`."""
    width = max(row.shape[0] for row in rows)
    out = rows[0].new_full((len(rows), width, *rows[0].shape[1:]), fill)
    for i, row in enumerate(rows):
        if side == "right":
            out[i, : row.shape[0]] = row
        else:
            out[i, width - row.shape[0] :] = row
    return out


def receiver_batch(
    framing: Framing,
    examples: Sequence[Example],
    embed: torch.nn.Module,
    *,
    soft: torch.Tensor | None = None,
    loss_on: str | None = None,
) -> ReceiverBatch:
    """[soft ++ prompt] (to generate: loss_on None) or [soft ++ prompt ++ answer + EOS] (train).

    Generation rows are left-padded (generate continues after the last position; it derives
    position ids from the mask); training rows are right-padded, so real tokens sit at the
    same positions 0..n-1 in both.

    Args:
        soft: (B, K, d) vectors placed before the prompt (prompt tuning), or None (LoRA).
        loss_on: None, or one of LOSS_POSITIONS; soft vectors never carry loss.
    """
    if loss_on is not None and loss_on not in LOSS_POSITIONS:
        raise ValueError(f"loss_on must be None or one of {LOSS_POSITIONS}, got {loss_on!r}")
    device = embed.weight.device
    tokenizer = framing.receiver_tokenizer
    answers = _answer_rows(framing, examples) if loss_on else [[] for _ in examples]
    rows, label_rows = [], []
    for i, (example, answer) in enumerate(zip(examples, answers, strict=True)):
        prompt = tokenizer(prompt_text(framing, example), add_special_tokens=False).input_ids
        ids = torch.tensor(prompt + answer, device=device)
        with torch.no_grad():  # the receiver's embedding table is frozen
            row = embed(ids)  # (n_i, d)
        targets = ids.clone()
        if loss_on == "answer":
            targets[: len(prompt)] = IGNORE
        if soft is not None:
            row = torch.cat([soft[i].to(row.dtype), row])  # (K + n_i, d)
            targets = torch.cat([targets.new_full((soft.shape[1],), IGNORE), targets])
        rows.append(row)
        label_rows.append(targets)
    side = "right" if loss_on else "left"
    masks = [torch.ones(len(t), dtype=torch.long, device=device) for t in label_rows]
    return ReceiverBatch(
        embeds=_stack(rows, side, 0.0),  # (B, L, d); padding is masked out
        attention_mask=_stack(masks, side, 0),  # (B, L)
        labels=_stack(label_rows, side, IGNORE) if loss_on else None,  # (B, L)
    )


def describe_text_input(framing: Framing, soft_tokens: int | None) -> dict[str, Any]:
    """What the receiver reads in a text baseline, for the result file."""
    cfg = framing.cfg
    prefix = f"{soft_tokens} learned vectors ++ " if soft_tokens else ""
    return {
        "receiver_input": prefix + "sender_template(text) ++ '\\n' ++ primer",
        "sender_template": cfg.sender_template,
        "primer": cfg.primer,
        "receiver_truncation": framing.truncation().replace("sender tokens", "receiver tokens"),
        "receiver_bos": False,
        "answer_format": ("space + " if cfg.answer_leading_space else "") + "label word + EOS",
    }


def evaluate_generator(
    framing: Framing,
    examples: Sequence[Example],
    generate_batch: Callable[[Sequence[Example]], list[str]],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> EvalReport:
    """Decode every example in batches, then parse and score them exactly as the bridge's."""
    started = time.perf_counter()
    raw: list[str] = []
    starts = range(0, len(examples), batch_size)
    with torch.inference_mode():
        for start in progress_over(starts, desc="eval", unit="batch", enabled=progress):
            raw.extend(generate_batch(examples[start : start + batch_size]))
    metrics, samples = score_outputs(framing, examples, raw)
    return EvalReport(metrics, samples, time.perf_counter() - started)
