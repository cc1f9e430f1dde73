"""Linear probe on sender states (method.md §5.6): how much of the label a sender layer holds.

Features: the sender's hidden state at the last non-pad token (the original's default pooling,
right padding) of every layer in REFERENCE_LAYERS, scaled to the sender's depth, plus the
layer the run's bridge reads. REFERENCE_LAYERS are the standalone script's hidden_states
indices {16, 20, 24, 28, 31} and 17, because the camera-ready "layer 16" hooked the output of
block 16, i.e. hidden_states[17] (pitfall 14).

Classifier: scikit-learn LogisticRegression, as the original (Era D: per-row L2 normalisation,
C = 1.0, max_iter 1000, random_state = seed, lbfgs), fit on the first 5,000 train examples
only. Row normalisation uses no statistics across items, so nothing from the eval split can
reach the fit; eval features are extracted only after the fit. Unlike Era D (raw text), the
sender reads exactly what it reads for the bridge (the run's sender_template and truncation;
pitfall 2), so probe and bridge see identical states.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from telepathy.data import Example
from telepathy.evaluate import EvalReport, score_outputs
from telepathy.experiment.pairs import scale_layer
from telepathy.framing import Framing
from telepathy.models.lms import LoadedLM
from telepathy.models.pair import decoder_stack
from telepathy.results.progress import progress as progress_over

REFERENCE_LAYERS = (16, 17, 20, 24, 28, 31)  # hidden_states indices for a 32-block sender
TRAIN_FIRST_N = 5000
LOGISTIC_C = 1.0
LOGISTIC_MAX_ITER = 1000


def probe_layers(source_layer: int, sender_depth: int) -> list[int]:
    """The reference layers at the sender's relative depth plus the bridge's layer, sorted."""
    return sorted({scale_layer(layer, sender_depth) for layer in REFERENCE_LAYERS} | {source_layer})


def pooled_sender_states(
    sender: LoadedLM,
    framing: Framing,
    examples: Sequence[Example],
    layers: Sequence[int],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[int, np.ndarray]:
    """hidden_states[layer] at each example's last real token: layer -> (N, d_sender) fp32."""
    pooled: dict[int, list[np.ndarray]] = {layer: [] for layer in layers}
    starts = range(0, len(examples), batch_size)
    with torch.inference_mode():
        for start in progress_over(starts, desc="features", unit="batch", enabled=progress):
            batch = framing.sender_batch(examples[start : start + batch_size], sender.model.device)
            hidden = decoder_stack(sender.model)(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                output_hidden_states=True,
            ).hidden_states  # n_layers + 1 tensors of (B, T, d)
            last = batch.attention_mask.sum(dim=1) - 1  # (B,): right padding
            rows = torch.arange(len(last), device=last.device)
            for layer in layers:
                pooled[layer].append(hidden[layer][rows, last].float().cpu().numpy())  # (B, d)
    return {layer: np.concatenate(chunks) for layer, chunks in pooled.items()}


def l2_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm (Era D's normalisation; per row, so no cross-item fit)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int) -> Any:
    """Fit one logistic-regression probe on TRAIN features (N, d) and class indices (N,)."""
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(C=LOGISTIC_C, max_iter=LOGISTIC_MAX_ITER, random_state=seed)
    return probe.fit(l2_rows(features), labels)


def predict_probe(probe: Any, features: np.ndarray) -> np.ndarray:
    """Class indices (N,) for features (N, d)."""
    return probe.predict(l2_rows(features))


@dataclass
class ProbeOutcome:
    """Per-layer eval predictions (class indices) and what the fits cost."""

    layers: list[int]
    eval_predictions: dict[int, np.ndarray]  # layer -> (N_eval,)
    train_accuracy: dict[int, float]  # layer -> accuracy on its own training items
    n_train: int
    n_parameters_per_probe: int  # coefficients + intercepts of one layer's classifier
    extract_s: float
    fit_s: float


def run_probe(
    sender: LoadedLM,
    framing: Framing,
    train_examples: Sequence[Example],
    eval_examples: Sequence[Example],
    *,
    layers: Sequence[int],
    seed: int,
    batch_size: int = 16,
    progress: bool = False,
) -> ProbeOutcome:
    """Fit one probe per layer on the first TRAIN_FIRST_N train examples, predict eval items."""
    names = framing.spec.label_names
    if names is None:
        raise ValueError(f"the linear probe needs class labels; {framing.spec.name} has none")
    train = list(train_examples[:TRAIN_FIRST_N])
    train_labels = np.array([names.index(e.label) for e in train])
    clock = time.perf_counter()
    train_features = pooled_sender_states(
        sender, framing, train, layers, batch_size=batch_size, progress=progress
    )
    extract_s = time.perf_counter() - clock
    clock = time.perf_counter()
    probes = {layer: fit_probe(train_features[layer], train_labels, seed) for layer in layers}
    fit_s = time.perf_counter() - clock
    train_accuracy = {
        layer: float((predict_probe(probes[layer], train_features[layer]) == train_labels).mean())
        for layer in layers
    }
    # Only now does any eval item pass through the sender.
    clock = time.perf_counter()
    eval_features = pooled_sender_states(
        sender, framing, eval_examples, layers, batch_size=batch_size, progress=progress
    )
    extract_s += time.perf_counter() - clock
    first = probes[layers[0]]
    return ProbeOutcome(
        layers=list(layers),
        eval_predictions={
            layer: predict_probe(probes[layer], eval_features[layer]) for layer in layers
        },
        train_accuracy=train_accuracy,
        n_train=len(train),
        n_parameters_per_probe=int(first.coef_.size + first.intercept_.size),
        extract_s=extract_s,
        fit_s=fit_s,
    )


def probe_report(
    framing: Framing, eval_examples: Sequence[Example], outcome: ProbeOutcome, reported_layer: int
) -> tuple[EvalReport, dict[str, float]]:
    """Score every layer's predictions as the bridge's eval scores text.

    Returns the report of `reported_layer` (its samples carry each layer's correctness in
    `extra`, so McNemar can pair any layer) and accuracy_layer_L / train_accuracy_layer_L.
    """
    words = [framing.answer_word(name) for name in framing.spec.label_names]
    scored = {
        # the probe's "output" is the label word of its class: parsed, it is that class
        layer: score_outputs(framing, eval_examples, [words[i] for i in predictions])
        for layer, predictions in outcome.eval_predictions.items()
    }
    metrics, samples = scored[reported_layer]
    for i, sample in enumerate(samples):
        sample["extra"] = {f"correct_layer_{L}": scored[L][1][i]["correct"] for L in scored}
    per_layer = {f"accuracy_layer_{L}": scored[L][0]["accuracy"] for L in scored}
    per_layer |= {f"train_accuracy_layer_{L}": acc for L, acc in outcome.train_accuracy.items()}
    return EvalReport(metrics, samples, outcome.extract_s + outcome.fit_s), per_layer
