"""Offline generators: determinism, seed dependence, disjoint splits, balance and passkey codes."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from telepathy.data import get_dataset, load_examples
from telepathy.data.offline import DEFAULT_SIZES, GENERATORS, generate, passkey_eval_codes
from telepathy.data.registry import Example
from telepathy.data.synth_text import POLAR_ADJECTIVES, TOPIC_VOCAB

SYNTH = ("synth_sentiment", "synth_topic", "synth_qtype")


def texts(examples: list[Example]) -> list[str]:
    return [e.fields["text"] for e in examples]


def test_generator_names_match_the_registry() -> None:
    assert set(GENERATORS) == set(DEFAULT_SIZES) == {"passkey", *SYNTH}


@pytest.mark.parametrize("name", SYNTH)
def test_synth_default_sizes_uids_fields_and_labels(name: str) -> None:
    spec = get_dataset(name)
    train = load_examples(spec, "train")
    evals = load_examples(spec, "eval")
    assert (len(train), len(evals)) == (4000, 200)
    assert [e.uid for e in train[:2]] == [f"{name}/train/0", f"{name}/train/1"]
    assert evals[-1].uid == f"{name}/eval/199"
    assert spec.label_names is not None
    for example in train + evals:
        assert set(example.fields) == {"text"} and example.fields["text"]
        assert example.label in spec.label_names


@pytest.mark.parametrize("name", SYNTH)
def test_synth_is_deterministic_and_seed_dependent(name: str) -> None:
    for split in ("train", "eval"):
        a = generate(name, split, n=None if split == "eval" else 300, seed=3)
        b = generate(name, split, n=None if split == "eval" else 300, seed=3)
        c = generate(name, split, n=None if split == "eval" else 300, seed=4)
        assert a == b
        assert texts(a) != texts(c)
        assert len(set(texts(a)) & set(texts(c))) < len(a) // 2


@pytest.mark.parametrize("name", SYNTH)
@pytest.mark.parametrize("seed", [0, 1])
def test_synth_train_and_eval_never_share_a_text(name: str, seed: int) -> None:
    train = set(texts(generate(name, "train", seed=seed)))
    evals = texts(generate(name, "eval", seed=seed))
    assert len(set(evals)) == len(evals)
    assert train.isdisjoint(evals)
    # Mostly unique training texts: the vocabularies are far larger than the default size.
    assert len(train) > 0.95 * DEFAULT_SIZES[name][0]


@pytest.mark.parametrize("name", SYNTH)
def test_synth_classes_are_balanced_in_every_prefix(name: str) -> None:
    labels = get_dataset(name).label_names
    assert labels is not None
    k = len(labels)
    for split in ("train", "eval"):
        examples = generate(name, split, seed=0)
        counts = Counter(e.label for e in examples)
        assert set(counts) == set(labels)
        assert max(counts.values()) - min(counts.values()) <= 1
        # Each block of k examples holds every class once, so first-N slices stay balanced.
        block = Counter(e.label for e in examples[: 2 * k])
        assert block == Counter({label: 2 for label in labels})


@pytest.mark.parametrize("name", SYNTH)
def test_n_generated_sizes_train_only(name: str) -> None:
    spec = get_dataset(name)
    small = load_examples(spec, "train", n_generated=50, task_seed=7)
    assert len(small) == 50
    # The eval set depends on the seed alone, never on the train size.
    evals = load_examples(spec, "eval", n_generated=50, task_seed=7)
    assert evals == generate(name, "eval", seed=7)
    with pytest.raises(ValueError, match=r"only sizes the train split"):
        generate(name, "eval", n=10)
    with pytest.raises(ValueError, match=r"positive integer; got 0"):
        generate(name, "train", n=0)


def test_sentiment_label_is_carried_by_the_adjectives_alone() -> None:
    negative, positive = (set(words) for words in POLAR_ADJECTIVES)
    for example in generate("synth_sentiment", "eval", seed=0):
        words = set(example.fields["text"].lower().replace(",", " ").replace(".", " ")
                    .replace(";", " ").replace(":", " ").split())  # fmt: skip
        own, other = (positive, negative) if example.label == "positive" else (negative, positive)
        assert words & own, example
        assert not words & other, example


def test_sentiment_context_words_do_not_predict_the_label() -> None:
    # Every non-polar word is used by both classes alike, so a model must read the polarity word.
    polar = set(POLAR_ADJECTIVES[0]) | set(POLAR_ADJECTIVES[1])
    counts: dict[str, Counter[str]] = {}
    for example in generate("synth_sentiment", "train", seed=0):
        for word in {w.strip(",.;:") for w in example.fields["text"].lower().split()}:
            if word not in polar:
                counts.setdefault(word, Counter())[example.label] += 1
    frequent = {w: c for w, c in counts.items() if c.total() >= 40}
    assert len(frequent) > 50
    for word, c in frequent.items():
        assert 0.35 <= c["positive"] / c.total() <= 0.65, (word, c)


def test_topic_sentences_use_their_topic_vocabulary() -> None:
    labels = get_dataset("synth_topic").label_names
    assert labels is not None
    for example in generate("synth_topic", "eval", seed=0):
        actions = TOPIC_VOCAB[labels.index(example.label)][1]
        assert any(action in example.fields["text"] for action in actions), example


def test_qtype_examples_look_like_trec_questions() -> None:
    examples = generate("synth_qtype", "eval", seed=0)
    assert all(e.fields["text"].endswith("?") for e in examples)
    by_label: dict[str, list[str]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example.fields["text"])
    assert all(t.startswith("Who ") for t in by_label["HUM"])
    assert all(
        t.startswith(("How many", "When", "How tall", "How far", "What was the population",
                      "How old", "How much"))
        for t in by_label["NUM"]
    )  # fmt: skip
    assert all("stand for" in t or "abbreviation" in t or "acronym" in t or "short for" in t
               or "full form" in t for t in by_label["ABBR"])  # fmt: skip


def test_passkey_eval_codes_replay_random_seed_42() -> None:
    state = random.getstate()
    try:
        random.seed(42)
        expected = [random.randint(10000, 99999) for _ in range(100)]
    finally:
        random.setstate(state)
    assert passkey_eval_codes() == expected
    evals = load_examples(get_dataset("passkey"), "eval", task_seed=123)
    assert [e.label for e in evals] == [str(c) for c in expected]
    assert [e.fields for e in evals[:2]] == [{"code": str(expected[0])}, {"code": str(expected[1])}]
    assert evals[0].uid == "passkey/eval/0" and len(evals) == 100


def test_passkey_train_is_seeded_and_never_reuses_an_eval_code() -> None:
    spec = get_dataset("passkey")
    train = load_examples(spec, "train", task_seed=0)
    assert len(train) == 16000
    assert all(len(e.label) == 5 and e.label.isdigit() and e.fields["code"] == e.label
               for e in train)  # fmt: skip
    assert 10000 <= min(int(e.label) for e in train) and max(int(e.label) for e in train) <= 99999
    rng = random.Random(0)
    assert [e.label for e in train[:5]] == [str(rng.randint(10000, 99999)) for _ in range(5)]
    assert load_examples(spec, "train", task_seed=0, n_generated=20) == train[:20]
    assert [e.label for e in load_examples(spec, "train", task_seed=1, n_generated=20)] != [
        e.label for e in train[:20]
    ]
    eval_codes = {str(c) for c in passkey_eval_codes()}
    # Seed 42 would replay the eval codes first; they are all skipped.
    seed42 = load_examples(spec, "train", task_seed=42, n_generated=500)
    assert eval_codes.isdisjoint(e.label for e in seed42)
    assert eval_codes.isdisjoint(e.label for e in train)


def test_unknown_generator_and_split() -> None:
    with pytest.raises(ValueError, match=r"unknown generator 'synth_x'.*passkey"):
        generate("synth_x", "train")
    with pytest.raises(ValueError, match=r"unknown split 'test'"):
        generate("passkey", "test")
