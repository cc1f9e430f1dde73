"""Evaluate a bridge: greedy generation from [primer ++ soft tokens], one parser, full records.

Accuracy uses one parser (first label word found whole-word in a fixed order, a single-letter
label only as a standalone answer, else INVALID; pitfall 8). The original code's lenient
gold-substring rule is recorded beside it so numbers compare with the paper's (pitfall 9).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from telepathy.bridge import Bridge
from telepathy.data import DatasetSpec, Example
from telepathy.framing import Framing
from telepathy.models.pair import LoadedPair
from telepathy.models.sender_source import states_source
from telepathy.parsing import (
    INVALID,
    extract_number,
    first_match_label,
    is_lenient_correct,
    parse_label,
    passkey_scores,
)
from telepathy.results.progress import progress as progress_over


@dataclass
class EvalReport:
    """Metrics plus one record per example (id, gold, prediction, raw text)."""

    metrics: dict[str, Any]
    samples: list[dict[str, Any]]
    eval_s: float


def generate_from_embeds(
    model: Any, framing: Framing, embeds: torch.Tensor, attention_mask: torch.Tensor
) -> list[str]:
    """Greedy continuations of receiver input embeddings, decoded without special tokens.

    Args:
        model: the receiver (or the receiver with adapters) to generate with.
        embeds: (B, L, d) receiver inputs; ragged rows must be left-padded, masked with 0 in
            attention_mask (B, L) (generate derives position ids from the mask).
    """
    from transformers import GenerationConfig

    generation = GenerationConfig(
        max_new_tokens=framing.cfg.max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=framing.eos_id,
        pad_token_id=framing.eos_id,
    )
    new_tokens = model.generate(
        inputs_embeds=embeds, attention_mask=attention_mask, generation_config=generation
    )  # (B, <= max_new_tokens): with inputs_embeds only new tokens come back
    decoded = framing.receiver_tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [text.strip() for text in decoded]


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """`module` in eval mode (no dropout) inside the block, its own mode restored after it."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def generate_texts(
    bridge: Bridge,
    pair: LoadedPair,
    framing: Framing,
    examples: Sequence[Example],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> list[str]:
    """Greedy receiver outputs for each example, decoded without special tokens and stripped."""
    embed = pair.receiver.model.get_input_embeddings()
    source = states_source(pair, framing)
    outputs: list[str] = []
    starts = range(0, len(examples), batch_size)
    with eval_mode(bridge), torch.inference_mode():
        for start in progress_over(starts, desc="eval", unit="batch", enabled=progress):
            sender = source(examples[start : start + batch_size])  # live or cached states
            soft = bridge(sender.states, sender.attention_mask).soft_tokens  # (B, K, d_receiver)
            prefix = framing.receiver_prefix(soft, embed)  # (B, P + K, d_receiver)
            mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
            outputs.extend(generate_from_embeds(pair.receiver.model, framing, prefix, mask))
    return outputs


def _same_number(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def score_outputs(
    framing: Framing, examples: Sequence[Example], raw_outputs: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Parse every output, compare with the gold answer, and aggregate the metrics."""
    return score_predictions(framing.spec, examples, raw_outputs)


def score_predictions(
    spec: DatasetSpec, examples: Sequence[Example], raw_outputs: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score raw outputs against a dataset's gold answers: the one scorer of bridge and
    baselines alike (a text-prompted baseline has no Framing, only the dataset)."""
    aliases = dict(spec.label_aliases or {})
    samples: list[dict[str, Any]] = []
    digit_accuracies: list[float] = []
    for example, raw in zip(examples, raw_outputs, strict=True):
        gold = spec.label_word(example.label)
        if spec.task_type == "passkey":
            exact, digit_accuracy = passkey_scores(raw, gold)
            digits = "".join(ch for ch in raw if ch.isdigit())[: len(gold)]
            prediction, correct = (digits or None), exact
            digit_accuracies.append(digit_accuracy)
        elif spec.task_type == "numeric":
            prediction = extract_number(raw)
            correct = _same_number(prediction, gold)
        else:
            prediction = parse_label(raw, spec.label_words, aliases)
            correct = prediction == gold
        sample = {
            "id": example.uid,
            "gold": gold,
            "prediction": prediction,
            "raw": raw,
            "correct": bool(correct),
            "correct_lenient": is_lenient_correct(raw, gold, aliases.get(gold, ())),
        }
        if spec.label_words is not None:  # label tasks: the camera-ready scorer as well
            sample["correct_first_match"] = first_match_label(raw, spec.label_words) == gold
        samples.append(sample)
    n = len(samples)
    n_correct = sum(s["correct"] for s in samples)
    n_invalid = sum(s["prediction"] is None for s in samples)
    histogram = Counter(
        s["prediction"] if s["prediction"] is not None else INVALID for s in samples
    )
    metrics: dict[str, Any] = {
        "accuracy": n_correct / n,
        "accuracy_lenient": sum(s["correct_lenient"] for s in samples) / n,
        "n_examples": n,
        "n_correct": n_correct,
        "n_invalid": n_invalid,
        "invalid_rate": n_invalid / n,
        "per_class_accuracy": _per_class(samples, spec.label_words),
        "prediction_histogram": dict(sorted(histogram.items())),
    }
    if spec.label_words is not None:
        metrics["accuracy_first_match"] = sum(s["correct_first_match"] for s in samples) / n
    if digit_accuracies:
        metrics["digit_accuracy"] = sum(digit_accuracies) / n
    return metrics, samples


def _per_class(
    samples: list[dict[str, Any]], label_words: Sequence[str] | None
) -> dict[str, float | None]:
    """Accuracy per gold class (None for a class with no eval items); empty for open answers."""
    if label_words is None:
        return {}
    per_class: dict[str, float | None] = {}
    for word in label_words:
        rows = [s["correct"] for s in samples if s["gold"] == word]
        per_class[word] = sum(rows) / len(rows) if rows else None
    return per_class


def evaluate_examples(
    bridge: Bridge,
    pair: LoadedPair,
    framing: Framing,
    examples: Sequence[Example],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> EvalReport:
    """Generate, parse and score; the quick eval during training uses the same path."""
    started = time.perf_counter()
    raw = generate_texts(bridge, pair, framing, examples, batch_size=batch_size, progress=progress)
    metrics, samples = score_outputs(framing, examples, raw)
    return EvalReport(metrics, samples, time.perf_counter() - started)
