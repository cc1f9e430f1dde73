"""Offline task generators: deterministic synthetic tasks for laptops and CI, plus passkey."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from telepathy.data.registry import SENTIMENT, TOPICS, TREC_COARSE, Example
from telepathy.data.synth_text import qtype_text, sentiment_text, topic_text

# method.md §3.3: the passkey eval set re-seeds Python's RNG to 42 and holds 100 codes.
PASSKEY_EVAL_SEED = 42
PASSKEY_RANGE = (10000, 99999)
# Passkey trained on steps x batch x 2 = 16,000 generated codes (method.md §3).
DEFAULT_SIZES: dict[str, tuple[int, int]] = {
    "passkey": (16000, 100),
    "synth_sentiment": (4000, 200),
    "synth_topic": (4000, 200),
    "synth_qtype": (4000, 200),
}
# Draws per example before accepting a repeat; large vocabularies make repeats rare.
_UNIQUE_TRIES = 30


# ---------------------------------------------------------------------------------------------
# Generation.


@dataclass(frozen=True)
class _SynthTask:
    labels: tuple[str, ...]
    sample: Callable[[int, random.Random], str]


_SYNTH: dict[str, _SynthTask] = {
    "synth_sentiment": _SynthTask(SENTIMENT, sentiment_text),
    "synth_topic": _SynthTask(TOPICS, topic_text),
    "synth_qtype": _SynthTask(TREC_COARSE, qtype_text),
}
GENERATORS: tuple[str, ...] = ("passkey", *_SYNTH)


def _balanced_order(n_classes: int, n: int, rng: random.Random) -> list[int]:
    """Class ids in shuffled blocks of one each, so every prefix is (nearly) balanced."""
    order: list[int] = []
    while len(order) < n:
        block = list(range(n_classes))
        rng.shuffle(block)
        order.extend(block)
    return order[:n]


def _draw(
    name: str, task: _SynthTask, n: int, rng: random.Random, exclude: set[str]
) -> list[tuple[str, int]]:
    """Draw n balanced (text, class) pairs, never a text in `exclude` and rarely a repeat."""
    drawn: list[tuple[str, int]] = []
    used: set[str] = set()
    for label in _balanced_order(len(task.labels), n, rng):
        text: str | None = None
        for _ in range(_UNIQUE_TRIES):
            candidate = task.sample(label, rng)
            if candidate in exclude:
                continue
            text = candidate
            if candidate not in used:
                break
        if text is None:
            raise RuntimeError(
                f"{name}: could not draw a {task.labels[label]!r} text outside the eval set in "
                f"{_UNIQUE_TRIES} tries; the vocabulary is too small"
            )
        used.add(text)
        drawn.append((text, label))
    return drawn


def _check_size(name: str, split: str, n: int) -> None:
    if n < 1:
        raise ValueError(f"{name}: {split} size must be a positive integer; got {n}")


def _synth(name: str, split: str, n_train: int, n_eval: int, seed: int) -> list[Example]:
    """Eval first (fixed by the seed alone), then train with every eval text excluded."""
    task = _SYNTH[name]
    # String seeds hash through SHA-512, so they are stable across runs and Python processes.
    pairs = _draw(name, task, n_eval, random.Random(f"{name}/eval/{seed}"), set())
    if split == "train":
        eval_texts = {text for text, _ in pairs}
        pairs = _draw(name, task, n_train, random.Random(f"{name}/train/{seed}"), eval_texts)
    return [
        Example(uid=f"{name}/{split}/{i}", fields={"text": text}, label=task.labels[label])
        for i, (text, label) in enumerate(pairs)
    ]


def passkey_eval_codes(n: int = DEFAULT_SIZES["passkey"][1]) -> list[int]:
    """The eval codes: Random(42) replays the original `random.seed(42)` global sequence."""
    rng = random.Random(PASSKEY_EVAL_SEED)
    return [rng.randint(*PASSKEY_RANGE) for _ in range(n)]


def _passkey(split: str, n_train: int, n_eval: int, seed: int) -> list[Example]:
    """Passkey codes; train skips every eval code so no eval answer is ever trained on."""
    eval_codes = passkey_eval_codes(n_eval)
    if split == "eval":
        codes = eval_codes
    else:
        rng, held_out = random.Random(seed), set(eval_codes)
        codes = []
        while len(codes) < n_train:
            code = rng.randint(*PASSKEY_RANGE)
            if code not in held_out:
                codes.append(code)
    return [
        Example(uid=f"passkey/{split}/{i}", fields={"code": str(c)}, label=str(c))
        for i, c in enumerate(codes)
    ]


def generate(name: str, split: str, *, n: int | None = None, seed: int = 0) -> list[Example]:
    """Generate one split ("train" | "eval") of an offline task; n overrides the train size."""
    if name not in DEFAULT_SIZES:
        raise ValueError(f"unknown generator {name!r}; expected one of: {', '.join(GENERATORS)}")
    if split not in ("train", "eval"):
        raise ValueError(f"unknown split {split!r}; expected one of: train, eval")
    n_train, n_eval = DEFAULT_SIZES[name]
    if n is not None:
        if split != "train":
            raise ValueError(f"{name}: n={n} only sizes the train split; the eval set is fixed")
        n_train = n
    _check_size(name, split, n_train if split == "train" else n_eval)
    if name == "passkey":
        return _passkey(split, n_train, n_eval, seed)
    return _synth(name, split, n_train, n_eval, seed)
