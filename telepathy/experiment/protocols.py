"""Protocol presets: the settings each era of the original experiments really used (method.md).

- `dec2025`: the Dec 2025 multi-seed "Telepathy" runs (Era B, method.md §2.4, §3.1, §10.1).
- `camera_ready`: the Jan 2026 camera-ready evaluation (Era D, §3.2, §10.2): sst2, agnews, trec.
- `corrected`: Era B's recipe with every pitfall fix of method.md §9 applied.

Fixes that are plain bugs rather than settings (EOS on every target and masked answer padding,
pitfall 7; the word-boundary parser, 8; frozen LMs, 23; token truncation, 21; the TREC label
order, 24; seeding torch/numpy/python, 17) hold in every protocol; the original lenient metric
is recorded beside ours so numbers still compare with the paper's.

Source layers are `hidden_states` indices for the paper's 32-block sender (pitfall 14); other
senders get the same relative depth (pairs.scale_layer). `None` means the pair's default layer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# The TREC / Banking77 / Passkey / reasoning scripts hard-coded s0 = 0.03 while the measured
# median embedding RMS of Mistral-7B-Instruct-v0.3 is 0.0027 (method.md §1.2, pitfall 15).
# Expressed as a factor on the measured value it reproduces 0.03 on the paper's receiver and
# stays meaningful on other receivers.
HARDCODED_SCALE_FACTOR = 0.03 / 0.0027


@dataclass(frozen=True)
class DatasetSettings:
    """Per-dataset bridge settings of one protocol."""

    soft_tokens: int
    source_layer: int | None  # reference (32-block) hidden_states index; None = pair default
    steps: int
    lr: float
    batch_size: int
    grad_accum: int
    drop_last: bool
    eval_every: int  # quick eval every N optimiser steps; 0 = never
    quick_eval_n: int
    eval_first_n: int | None  # final eval on the first N eval items; None = the whole split
    sender_template: str
    truncate_field: str  # the field truncated to sender_max_tokens (sender tokens, pitfall 21)
    sender_max_tokens: int
    primer: str
    answer_leading_space: bool
    max_new_tokens: int
    scale_init_factor: float = 1.0  # s0 = factor x median embedding-row RMS of the receiver
    # The faithful presets cut the field in *characters* first, as the original code did
    # (fidelity-vs-original.md §4 rows 1-2; method.md §3.1-3.2); then the token rule applies.
    # truncate_chars holds for training and quick evals, eval_truncate_chars (None: the same)
    # for the final evaluation and every baseline's. `corrected` cuts in tokens only.
    truncate_chars: int | None = None
    eval_truncate_chars: int | None = None


@dataclass(frozen=True)
class Protocol:
    """A named preset: per-dataset settings plus protocol-wide choices."""

    name: str
    description: str
    datasets: dict[str, DatasetSettings]
    normalize_sender: bool = False
    bridge_dtype: str = "auto"  # auto: bf16 on CUDA (the original, no fp32 master), fp32 on CPU
    weight_decay: float = 0.01
    diversity_weight: float = 0.1
    grad_clip: float = 1.0


_SST2_B = DatasetSettings(
    soft_tokens=8,
    source_layer=16,
    steps=2000,
    lr=2e-4,
    batch_size=16,
    grad_accum=2,
    drop_last=True,
    eval_every=200,
    quick_eval_n=50,
    eval_first_n=200,
    sender_template="Review: {text}\nSentiment (positive or negative):",
    truncate_field="text",
    sender_max_tokens=128,
    primer="Sentiment:",
    answer_leading_space=True,
    max_new_tokens=5,
)
_AGNEWS_B = DatasetSettings(
    soft_tokens=8,
    source_layer=31,
    steps=2000,
    lr=2e-4,
    batch_size=16,
    grad_accum=2,
    drop_last=True,
    eval_every=200,
    quick_eval_n=100,
    eval_first_n=200,
    sender_template="Article: {text}\nTopic (world, sports, business, or science):",
    truncate_field="text",
    sender_max_tokens=256,
    primer="Topic:",
    answer_leading_space=True,
    max_new_tokens=5,
    # train_telepathy_agnews.py: text[:256] for training and quick evals, text[:500] for the
    # final eval (@87a395ce :242, :181, :496)
    truncate_chars=256,
    eval_truncate_chars=500,
)
# TREC / Banking77 / Passkey / reasoning scripts: lr 1e-4, batch 8, no accumulation, no
# drop_last, raw label without a leading space, s0 = 0.03.
_RAW_B = dict(
    soft_tokens=16,
    source_layer=31,
    steps=2000,
    lr=1e-4,
    batch_size=8,
    grad_accum=1,
    drop_last=False,
    answer_leading_space=False,
    scale_init_factor=HARDCODED_SCALE_FACTOR,
    eval_first_n=200,
)
_TREC_B = DatasetSettings(
    **_RAW_B,
    eval_every=400,
    quick_eval_n=100,
    sender_template="{text}",
    truncate_field="text",
    sender_max_tokens=128,
    primer="Question Type: ",
    max_new_tokens=15,
)
_BANKING_B = replace(
    _TREC_B,
    steps=3000,
    eval_every=500,
    sender_max_tokens=256,
    primer="Intent: ",
    max_new_tokens=20,
)
_PASSKEY_B = replace(
    _TREC_B,
    steps=1000,
    eval_every=0,
    eval_first_n=None,
    truncate_field="code",
    sender_template="The secret access code is {code}. Remember it.",
    sender_max_tokens=64,
    primer="The code is ",
    max_new_tokens=10,
)
_REASONING_B = dict(
    eval_every=0, quick_eval_n=100, sender_max_tokens=256, primer="Answer: ", max_new_tokens=5
)
_BOOLQ_B = DatasetSettings(
    **_RAW_B,
    **_REASONING_B,
    sender_template="{passage}\n\nQuestion: {question}",
    truncate_field="passage",
)
# Era B showed the PIQA / CSQA sender neither the solutions nor the choices (pitfall 13).
_PIQA_B = replace(_BOOLQ_B, sender_template="Goal: {goal}", truncate_field="goal")
_CSQA_B = replace(_BOOLQ_B, sender_template="{question}", truncate_field="question")
# GSM8K never ran with this bridge in a paper table (its bridge was a separate 512-d one):
# K = 32 from the sender's last layer as there, answering the final number.
_GSM8K_B = replace(
    _BOOLQ_B,
    soft_tokens=32,
    source_layer=32,
    sender_template="{question}",
    truncate_field="question",
    max_new_tokens=16,
)

# config.yaml's dec2025 grid states K, layer, steps, lr, batch and eval list again for each
# dataset (as the --set overrides of its runs); tests/grid/test_expand.py checks that the two
# agree and names the grid's three deliberate departures (PIQA on 500 items, GSM8K's 2500 steps
# at batch 4).
DEC2025_DATASETS = {
    "sst2": _SST2_B,
    "agnews": _AGNEWS_B,
    "trec": _TREC_B,
    "banking77": _BANKING_B,
    "passkey": _PASSKEY_B,
    "boolq": _BOOLQ_B,
    "piqa": _PIQA_B,
    "commonsenseqa": _CSQA_B,
    "gsm8k": _GSM8K_B,
}

# Era D (run_complete_evaluation.py): layer 31, 1500 steps, 2e-4, batch 16 without accumulation,
# drop_last, no quick eval, full test sets, K = 32 by default (8 in its second table).
_ERA_D = dict(
    soft_tokens=32,
    source_layer=31,
    steps=1500,
    lr=2e-4,
    batch_size=16,
    grad_accum=1,
    drop_last=True,
    eval_every=0,
    quick_eval_n=0,
    eval_first_n=None,
    truncate_field="text",
    answer_leading_space=True,
    max_new_tokens=10,
)
# run_complete_evaluation.py slices the text to max_length *characters* and then truncates the
# prompt at max_length tokens (@05fe4a8a :879-881, :951-953), for every method.
CAMERA_READY_DATASETS = {
    "sst2": DatasetSettings(
        **_ERA_D,
        sender_template="Review: {text}\nSentiment (positive or negative):",
        sender_max_tokens=128,
        truncate_chars=128,
        primer="Sentiment:",
    ),
    "agnews": DatasetSettings(
        **_ERA_D,
        sender_template="Article: {text}\nTopic (world, sports, business, or science):",
        sender_max_tokens=256,
        truncate_chars=256,
        primer="Topic:",
    ),
    "trec": DatasetSettings(
        **_ERA_D,
        sender_template="Question: {text}\nCategory (ABBR, ENTY, DESC, HUM, LOC, or NUM):",
        sender_max_tokens=128,
        truncate_chars=128,
        primer="Category:",
    ),
}


def _corrected(settings: DatasetSettings) -> DatasetSettings:
    # s0 from the measured embedding scale (15); every method on the whole eval split (16);
    # one truncation rule, in sender tokens, for train and eval (21)
    return replace(
        settings,
        scale_init_factor=1.0,
        eval_first_n=None,
        source_layer=None,
        truncate_chars=None,
        eval_truncate_chars=None,
    )


CORRECTED_DATASETS = {name: _corrected(s) for name, s in DEC2025_DATASETS.items()}
# The sender must see everything the target depends on (pitfall 13).
CORRECTED_DATASETS["piqa"] = replace(
    CORRECTED_DATASETS["piqa"], sender_template="Goal: {goal}\n1. {sol1}\n2. {sol2}"
)
CORRECTED_DATASETS["commonsenseqa"] = replace(
    CORRECTED_DATASETS["commonsenseqa"], sender_template="{question}\n{choices}"
)

PROTOCOLS: dict[str, Protocol] = {
    "dec2025": Protocol(
        name="dec2025",
        description="Dec 2025 multi-seed runs (Era B): per-dataset K/layer, first 200 eval items",
        datasets=DEC2025_DATASETS,
    ),
    "camera_ready": Protocol(
        name="camera_ready",
        description="Jan 2026 camera-ready (Era D): K=32, layer 31, 1500 steps, full test sets",
        datasets=CAMERA_READY_DATASETS,
    ),
    "corrected": Protocol(
        name="corrected",
        description=(
            "Era B recipe with every method.md §9 fix: measured s0, whole eval split, senders "
            "that see the choices, pair-default layer, LayerNorm on sender states, fp32 bridge"
        ),
        datasets=CORRECTED_DATASETS,
        # The original StatisticalNormalizer (meant to match the two models' statistics) was an
        # identity in every run; a parameter-free LayerNorm is what made the small pair learn.
        normalize_sender=True,
        bridge_dtype="float32",  # fp32 master weights (pitfall 3's documented option)
    ),
}


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name, listing the valid names when it is unknown."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(
            f"unknown protocol {name!r}; valid protocols: {', '.join(sorted(PROTOCOLS))}"
        ) from None


def dataset_settings(protocol: Protocol, dataset: str, analogue: str | None) -> DatasetSettings:
    """Settings for a dataset; generated offline tasks borrow their real analogue's settings."""
    key = analogue or dataset
    if key not in protocol.datasets:
        raise ValueError(
            f"protocol {protocol.name!r} has no settings for dataset {dataset!r}"
            + (f" (analogue {analogue!r})" if analogue else "")
            + f"; it covers: {', '.join(sorted(protocol.datasets))}"
        )
    return protocol.datasets[key]
