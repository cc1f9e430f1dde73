"""Prompting baselines: demonstrations, prompts, settings, scoring, and runs on tiny and small."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import fixture_snapshot_dir

from telepathy import cli
from telepathy.baselines import prompting
from telepathy.baselines.demonstrations import select_demonstrations, text_identity
from telepathy.baselines.prompt_templates import (
    few_shot_prompt,
    relay_prompt,
    summary_prompt,
    task_prompts,
    zero_shot_prompt,
)
from telepathy.baselines.prompting_config import resolve_prompting_config
from telepathy.data import DATASETS, Example, get_dataset, load_examples, open_snapshot
from telepathy.evaluate import score_predictions
from telepathy.experiment.config import ConfigError, resolve_run_config
from telepathy.results.provenance import ids_digest
from telepathy.results.validate import validate_file

LABELLED = sorted(name for name, spec in DATASETS.items() if spec.label_words is not None)


def fixture_args(name: str) -> list[str]:
    """CLI arguments that read a real dataset from the snapshot of its JSON Lines fixtures."""
    return ["--data", str(fixture_snapshot_dir(name))]


def fixture_examples(name: str, split: str) -> list[Example]:
    snapshot = open_snapshot(fixture_snapshot_dir(name), name)
    return load_examples(get_dataset(name), split, snapshot=snapshot)


def pool(counts: dict[str, int], prefix: str = "train") -> list[Example]:
    """Train items with distinct texts: `counts[label]` items per label."""
    return [
        Example(f"{prefix}/{label}/{i}", {"text": f"{prefix} {label} item {i}"}, label)
        for label, n in counts.items()
        for i in range(n)
    ]


SENTIMENT = get_dataset("synth_sentiment")
QTYPE = get_dataset("synth_qtype")  # 6 classes
TOPIC = get_dataset("synth_topic")  # 4 classes
BOOLQ = get_dataset("boolq")


# ----------------------------------------------------------------------------- demonstrations


def test_few_shot_never_includes_an_eval_item_by_id_or_by_text():
    train = pool({"negative": 6, "positive": 6})
    # Eval items that are train items under another id (case and spacing changed), and one
    # that shares a train id: all four must never be shown as demonstrations.
    evals = [
        Example("eval/0", {"text": "  TRAIN negative   item 0"}, "negative"),
        Example("eval/1", {"text": "train positive item 3"}, "positive"),
        Example("eval/2", {"text": "Train Positive Item 5 "}, "positive"),
        Example("train/negative/4", {"text": "unrelated"}, "negative"),
    ]
    banned_texts = {text_identity(e) for e in evals}
    for seed in range(40):
        demos = select_demonstrations(SENTIMENT, train, evals, 8, seed)
        assert len(demos) == 8
        assert not {d.uid for d in demos} & {e.uid for e in evals}
        assert not {text_identity(d) for d in demos} & banned_texts


def test_repeated_train_texts_are_one_demonstration():
    train = pool({"negative": 3, "positive": 3})
    train += [Example("dup", dict(train[0].fields), "negative")]
    for seed in range(20):
        demos = select_demonstrations(SENTIMENT, train, [], 6, seed)
        assert len({text_identity(d) for d in demos}) == 6


@pytest.mark.parametrize("k", [1, 2, 3, 5, 6, 7, 11, 12, 13])
def test_exactly_k_demonstrations_balanced_round_robin(k):
    """The original's shots // n_classes gave TREC 0 demonstrations (pitfall 11)."""
    labels = QTYPE.label_names
    train = pool(dict.fromkeys(labels, 5))
    demos = select_demonstrations(QTYPE, train, [], k, seed=3)
    assert len(demos) == k and len({d.uid for d in demos}) == k
    counts = Counter(d.label for d in demos)
    per_class = [counts.get(label, 0) for label in labels]
    assert max(per_class) - min(per_class) <= 1  # as even as possible, k < n_classes too


def test_k_below_n_classes_covers_different_classes_per_seed():
    train = pool(dict.fromkeys(QTYPE.label_names, 5))
    covered = {
        frozenset(d.label for d in select_demonstrations(QTYPE, train, [], 2, seed))
        for seed in range(30)
    }
    assert all(len(classes) == 2 for classes in covered)  # never two of one class
    assert len(covered) > 3  # the seed decides which classes get the slots


def test_a_short_class_gives_its_slots_to_the_others():
    train = pool({"world": 1, "sports": 6, "business": 6, "science": 6})
    demos = select_demonstrations(TOPIC, train, [], 10, seed=0)
    counts = Counter(d.label for d in demos)
    assert len(demos) == 10 and counts["world"] == 1
    assert sorted(counts[c] for c in ("sports", "business", "science")) == [3, 3, 3]


def test_same_seed_same_demonstrations_other_seed_other_ones():
    train = pool({"negative": 50, "positive": 50})
    first = select_demonstrations(SENTIMENT, train, [], 5, seed=42)
    assert select_demonstrations(SENTIMENT, train, [], 5, seed=42) == first
    others = [select_demonstrations(SENTIMENT, train, [], 5, seed=s) for s in (1, 2, 3, 123)]
    assert all({d.uid for d in o} != {d.uid for d in first} for o in others)


def test_demonstration_order_is_shuffled_not_round_robin():
    train = pool({"negative": 20, "positive": 20})
    orders = [
        [d.label for d in select_demonstrations(SENTIMENT, train, [], 4, seed)]
        for seed in range(20)
    ]
    alternating = [o for o in orders if all(a != b for a, b in pairwise(o))]
    assert all(Counter(o) == {"negative": 2, "positive": 2} for o in orders)
    assert len(alternating) < len(orders)  # round-robin order alone would always alternate


def test_multiple_choice_draws_plain_random_items():
    """BoolQ's Yes/No are answer slots, not classes to balance: 10 Yes, 2 No, k = 4."""
    train = pool({"Yes": 10, "No": 2})
    n_no = [
        sum(d.label == "No" for d in select_demonstrations(BOOLQ, train, [], 4, s))
        for s in range(30)
    ]
    assert 0 in n_no  # balancing would always pick both No items


@pytest.mark.parametrize("k", [0, -1])
def test_non_positive_k_is_refused(k):
    with pytest.raises(ValueError, match=f"k >= 1 demonstrations, got k={k}"):
        select_demonstrations(SENTIMENT, pool({"negative": 3}), [], k, 0)


def test_k_larger_than_the_eligible_train_items_names_both():
    train = pool({"negative": 2, "positive": 2})
    evals = [Example("e", dict(train[0].fields), "negative")]
    with pytest.raises(ValueError, match=r"k=4 demonstrations requested but only 3 of the 4"):
        select_demonstrations(SENTIMENT, train, evals, 4, 0)


# ----------------------------------------------------------------------------- prompts


def _names(text: str, word: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text, re.IGNORECASE) is not None


@pytest.mark.parametrize("name", LABELLED)
def test_relay_receiver_prompt_names_every_label_word(name):
    """Era D's relay omitted the labels and scored 1 % / 4 % (pitfall 12)."""
    spec = get_dataset(name)
    prompt = relay_prompt(task_prompts(spec), spec, "A short summary.")
    missing = [w for w in spec.label_words if not _names(prompt, w)]
    assert not missing, f"{name}: relay prompt lacks {missing}: {prompt!r}"
    assert prompt.endswith("Text: A short summary.\n\nAnswer:")


@pytest.mark.parametrize("name", LABELLED)
def test_zero_and_few_shot_prompts_name_every_label_or_an_alias(name):
    spec = get_dataset(name)
    prompts = task_prompts(spec)
    fields = {"text": "x", "passage": "p", "question": "q", "goal": "g", "sol1": "a", "sol2": "b"}
    fields["choices"] = "A. a\nB. b"
    for prompt in (
        zero_shot_prompt(prompts, spec, fields),
        few_shot_prompt(prompts, spec, [], fields),
    ):
        for word in spec.label_words:
            forms = (word, *spec.label_aliases.get(word, ()))
            assert any(_names(prompt, f) for f in forms), f"{name}: {word!r} not in {prompt!r}"


def test_sst2_prompts_are_method_md_verbatim():
    spec = get_dataset("sst2")
    prompts = task_prompts(spec)
    assert zero_shot_prompt(prompts, spec, {"text": "Fun."}) == (
        "Classify the sentiment of this review as positive or negative.\n\nReview: Fun.\n\n"
        "Sentiment:"
    )
    demos = [({"text": "Bad."}, "negative"), ({"text": "Good."}, "positive")]
    assert few_shot_prompt(prompts, spec, demos, {"text": "Fun."}) == (
        "Classify the sentiment as positive or negative.\n\nText: Bad.\nLabel: negative\n\n"
        "Text: Good.\nLabel: positive\n\nText: Fun.\nLabel:"
    )
    assert summary_prompt(prompts, {"text": "Fun."}) == (
        "Summarize this in one sentence:\n\nFun.\n\nSummary:"
    )


def test_agnews_demonstrations_show_a_word_the_parser_maps_back():
    spec = get_dataset("agnews")
    prompt = few_shot_prompt(task_prompts(spec), spec, [({"text": "t"}, "science")], {"text": "u"})
    assert "Label: Sci/Tech" in prompt
    assert score_predictions(spec, [Example("a", {"text": "u"}, "science")], ["Sci/Tech"])[0][
        "accuracy"
    ] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "name", ["sst2", "agnews", "trec", "banking77", "boolq", "piqa", "commonsenseqa", "gsm8k"]
)
def test_every_real_dataset_renders_its_fields_into_each_prompt(name):
    spec = get_dataset(name)
    prompts = task_prompts(spec)
    item, demo = fixture_examples(name, "eval")[0], fixture_examples(name, "train")[0]
    rendered = [
        zero_shot_prompt(prompts, spec, item.fields),
        few_shot_prompt(prompts, spec, [(demo.fields, demo.label)], item.fields),
        summary_prompt(prompts, item.fields),
    ]
    shown = {k: v for k, v in item.fields.items() if not k.startswith("choice_")}
    for prompt in rendered:
        assert all(value in prompt for value in shown.values()), (name, prompt)
    assert demo.fields[next(iter(sorted(demo.fields)))] in rendered[1]


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(method="one_shot"), "unknown prompting method 'one_shot'; expected one of:"),
        (dict(method="few_shot", shots=-1), "shots (k) must be an integer >= 0, got -1"),
        (dict(method="few_shot", shots=0), "few_shot_receiver needs k >= 1 demonstrations"),
        (dict(method="zero_shot_receiver", shots=3), "only applies to few_shot_sender"),
        (dict(dataset="imagenet"), "unknown dataset 'imagenet'"),
        (dict(overrides={"lr": "1e-3"}), "'lr' is a bridge setting"),
        (dict(overrides={"shotz": "3"}), "'shotz' is not a setting"),
        (dict(overrides={"summary_max_new_tokens": "9"}), "only applies to text_relay"),
        (dict(overrides={"answer_max_new_tokens": "0"}), "answer_max_new_tokens must be"),
        (dict(overrides={"chat_template": "maybe"}), "expected true or false, got 'maybe'"),
    ],
)
def test_bad_settings_name_the_value_and_what_was_expected(kwargs, message):
    args = dict(
        method="zero_shot_receiver", protocol="corrected", pair="tiny", dataset="synth_sentiment"
    )
    args.update(kwargs)
    with pytest.raises(ConfigError) as err:
        resolve_prompting_config(seed=1, **args)
    assert message in str(err.value)


def test_defaults_follow_method_md():
    def cfg(method, dataset="sst2"):
        return resolve_prompting_config(
            method=method, protocol="dec2025", pair="paper", dataset=dataset, seed=42
        )

    assert cfg("few_shot").method == "few_shot_receiver" and cfg("few_shot").shots == 5
    assert cfg("zero_shot_sender").answer_max_new_tokens == 20  # §5.1
    assert cfg("few_shot_sender").answer_max_new_tokens == 10  # §5.2
    relay = cfg("text_relay")
    assert (relay.answer_max_new_tokens, relay.summary_max_new_tokens) == (10, 50)  # §5.3
    assert cfg("zero_shot_receiver", "gsm8k").answer_max_new_tokens == 150  # §4
    assert relay.eval_first_n == 200 and relay.input_max_tokens == 128  # the bridge's preset


@pytest.mark.parametrize("protocol", ["dec2025", "corrected"])
def test_eval_items_are_the_bridge_eval_items(protocol):
    """McNemar pairs baseline and bridge by item: the eval lists must be identical."""
    from telepathy.models.run_inputs import load_eval_examples

    cfg = resolve_prompting_config(
        method="text_relay", protocol=protocol, pair="tiny", dataset="synth_qtype", seed=4
    )
    bridge_cfg = resolve_run_config(protocol=protocol, pair="tiny", dataset="synth_qtype", seed=4)
    ours, _ = prompting.load_eval_list(cfg, None)
    _, theirs, _ = load_eval_examples(bridge_cfg, None)
    assert [e.uid for e in ours] == [e.uid for e in theirs]


# ----------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("raw", "gold", "prediction"),
    [
        ("Natalia sold 48 clips in April. #### 72", "72", "72"),
        ("The answer is 1,234.", "1234", "1234"),
        ("It costs $5.00 in total.", "5", "5.00"),
        ("-3", "-3", "-3"),
        ("The temperature is \u22123 degrees", "-3", "-3"),  # Unicode minus
        ("42.0", "42", "42.0"),
        ("So the total is \\boxed{7} apples, and 3 pears are left.", "7", "7"),
        ("Final answer: 18. Check: 6 + 12 = 18, leaving 2 boxes", "18", "18"),
        ("She has 3 bags of 4 apples, so 12 apples. Then she ate 2.", "10", "2"),  # wrong
        ("#### $1,000", "1000", "1000"),
        ("The answer is 60 minutes because 1 hour has 60.", "60", "60"),
        ("Step 1: 2 + 2 = 4\nStep 2: 4 * 3 = 12", "12", "12"),
        ("There is no number here.", "5", None),
    ],
)
def test_gsm8k_answers_are_scored_by_the_shared_scorer(raw, gold, prediction):
    spec = get_dataset("gsm8k")
    metrics, samples = score_predictions(spec, [Example("g", {"question": "q"}, gold)], [raw])
    assert samples[0]["prediction"] == prediction
    expected_correct = prediction is not None and float(prediction) == float(gold)
    assert samples[0]["correct"] is expected_correct
    assert metrics["per_class_accuracy"] == {}


@pytest.mark.parametrize(
    ("raw", "prediction", "lenient"),
    [
        ("a river bank", None, True),  # was parsed as A; only the lenient rule still says A
        ("A. river bank", "A", True),
        (" A", "A", True),
        ("B) shore", "B", False),
    ],
)
def test_commonsenseqa_article_is_not_choice_a(raw, prediction, lenient):
    spec = get_dataset("commonsenseqa")
    metrics, samples = score_predictions(spec, [Example("c", {"question": "q"}, "A")], [raw])
    assert samples[0]["prediction"] == prediction
    assert samples[0]["correct"] is (prediction == "A")
    assert samples[0]["correct_lenient"] is lenient  # the original substring rule, unchanged
    assert metrics["invalid_rate"] == (1.0 if prediction is None else 0.0)


def test_passkey_scores_exact_match_and_digit_accuracy():
    spec = get_dataset("passkey")
    items = [Example(f"p{i}", {"code": c}, c) for i, c in enumerate(("12345", "67890"))]
    metrics, samples = score_predictions(spec, items, ["The code is 12345.", "67800"])
    assert [s["correct"] for s in samples] == [True, False]
    assert metrics["accuracy"] == 0.5
    assert metrics["digit_accuracy"] == pytest.approx((1.0 + 0.8) / 2)  # 6,7,8,_,0 of 67890


# ----------------------------------------------------------------------------- runs (tiny pair)


@pytest.fixture
def loads(monkeypatch):
    """Record which models a run loads (by registry key) while loading them for real."""
    real, loaded = prompting.load_lm, []

    def recording(spec, **kwargs):
        loaded.append(spec.key)
        return real(spec, **kwargs)

    monkeypatch.setattr(prompting, "load_lm", recording)
    return loaded


def baseline(
    tmp_path: Path, cache: Path, method: str, dataset: str, *extra: str, pair: str = "tiny"
) -> dict:
    """One in-process `telepathy baseline` run (tiny pair by default); returns its record."""
    out = tmp_path / f"{method}-{dataset}.json"
    code = cli.main(
        [
            "baseline",
            *("--method", method, "--protocol", "corrected", "--pair", pair),
            *("--dataset", dataset, "--seed", "7", "--out", str(out)),
            *("--cache-dir", str(cache), "--threads", "1", "--no-progress", "--batch-size", "3"),
            *("--set", "answer_max_new_tokens=3"),
            *extra,
        ]
    )
    assert code == 0
    assert validate_file(out) == []
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("method", "loaded_roles"),
    [
        ("zero_shot_sender", ["sender"]),
        ("zero_shot_receiver", ["receiver"]),
        ("few_shot", ["receiver"]),
        ("few_shot_sender", ["sender"]),
        ("text_relay", ["sender", "receiver"]),
    ],
)
def test_each_method_writes_a_valid_eval_record_loading_only_its_models(
    method, loaded_roles, model_cache, tmp_path, loads
):
    extra = ["--set", "eval_first_n=5", "--set", "train_size=40"]
    if method == "text_relay":
        extra += ["--set", "summary_max_new_tokens=4"]
    record = baseline(tmp_path, model_cache, method, "synth_sentiment", *extra)
    pair = {"sender": "tiny-llama", "receiver": "tiny-mistral"}
    assert loads == [pair[role] for role in loaded_roles]  # the other model is never loaded
    for role in ("sender", "receiver"):
        used = role in loaded_roles
        assert (record["parameters"][f"{role}_total"] is not None) is used
        assert (record["pair"][f"{role}_revision"] is not None) is used
    assert sorted(record["hyperparameters"]["example_prompts"]) == sorted(loaded_roles)
    assert record["kind"] == "eval" and record["soft_tokens"] is None
    assert record["method"] == ("few_shot_receiver" if method == "few_shot" else method)
    evals = load_examples(SENTIMENT, "eval")[:5]
    assert [s["id"] for s in record["samples"]] == [e.uid for e in evals]
    assert [s["gold"] for s in record["samples"]] == [e.label for e in evals]
    assert all("prediction" in s and isinstance(s["raw"], str) for s in record["samples"])
    hyper = record["hyperparameters"]
    assert hyper["answer_max_new_tokens"] == 3
    if method.startswith("few_shot"):
        demos = hyper["demonstrations"]
        assert demos["k"] == len(demos["ids"]) == hyper["shots"] == 5
        assert demos["ids_sha256"] == ids_digest(demos["ids"])
        assert not set(demos["ids"]) & {e.uid for e in evals}
        for uid in demos["ids"][:2]:  # the demonstrations are really in the prompt
            text = next(
                e for e in load_examples(SENTIMENT, "train", n_generated=40) if e.uid == uid
            )
            assert text.fields["text"] in next(iter(hyper["example_prompts"].values()))
    else:
        assert "demonstrations" not in hyper and hyper["shots"] == 0
    if method == "text_relay":
        assert all(isinstance(s["summary"], str) for s in record["samples"])
        assert hyper["summary_max_new_tokens"] == 4
        assert record["metrics"]["invalid_rate"] == record["metrics"]["n_invalid"] / 5
        receiver_prompt = hyper["example_prompts"]["receiver"]
        assert record["samples"][0]["summary"] in receiver_prompt
        assert "positive" in receiver_prompt and "negative" in receiver_prompt
    else:
        assert all("summary" not in s for s in record["samples"])


@pytest.mark.parametrize(
    ("dataset", "method", "extra"),
    [
        ("boolq", "zero_shot_receiver", []),
        ("piqa", "text_relay", ["--set", "summary_max_new_tokens=3"]),
        ("commonsenseqa", "few_shot", ["--shots", "2"]),
        ("gsm8k", "few_shot_sender", ["--shots", "3"]),
        ("trec", "zero_shot_sender", ["--set", "input_max_tokens=16"]),
    ],
)
def test_every_dataset_kind_runs_from_local_files(
    dataset, method, extra, model_cache, tmp_path, loads
):
    record = baseline(tmp_path, model_cache, method, dataset, *fixture_args(dataset), *extra)
    assert record["metrics"]["n_examples"] == len(fixture_examples(dataset, "eval"))
    if dataset == "gsm8k":
        assert record["metrics"]["per_class_accuracy"] == {}


def test_passkey_run_reports_digit_accuracy(model_cache, tmp_path, loads):
    record = baseline(
        tmp_path, model_cache, "zero_shot_receiver", "passkey", "--set", "eval_first_n=4"
    )
    assert 0 <= record["metrics"]["digit_accuracy"] <= 1
    assert record["samples"][0]["gold"].isdigit() and len(record["samples"][0]["gold"]) == 5


def test_batched_generation_keeps_prompt_order(tiny_pair):
    prompts = ["a", "a much longer prompt with many more tokens in it", "mid length one", "b c"]
    one = prompting.generate_greedy(tiny_pair.receiver, prompts, max_new_tokens=4, batch_size=1)
    three = prompting.generate_greedy(tiny_pair.receiver, prompts, max_new_tokens=4, batch_size=3)
    assert three.texts == one.texts
    assert three.prompt_tokens == [len(tiny_pair.receiver.tokenizer(p).input_ids) for p in prompts]


def test_a_shared_prompt_prefix_read_once_gives_the_same_outputs(tiny_pair, monkeypatch):
    """The tokens every prompt starts with become one cache for all batches; each row then
    holds [prefix ++ padding ++ its own tokens] and must generate what it does read whole."""
    demos = "Classify the sentiment. Text: fine film Label: positive Text: dull Label: negative"
    queries = ["ok", "a far longer query with many more words in it", "mid length query", "b"]
    prompts = [f"{demos} Text: {q} Label:" for q in queries]
    encoded = [tiny_pair.receiver.tokenizer(p).input_ids for p in prompts]
    assert prompting.shared_prefix_length(encoded, keep=1) > 15

    cached = prompting.generate_greedy(tiny_pair.receiver, prompts, max_new_tokens=6, batch_size=3)
    monkeypatch.setattr(prompting, "shared_prefix_length", lambda *args, **kwargs: 0)
    whole = prompting.generate_greedy(tiny_pair.receiver, prompts, max_new_tokens=6, batch_size=3)
    assert cached.texts == whole.texts
    assert len(set(whole.texts)) > 1  # the outputs depend on the query


def test_shared_prefix_length_leaves_each_sequence_its_own_tokens():
    assert prompting.shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert prompting.shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]], keep=1) == 2
    assert prompting.shared_prefix_length([[1, 2, 3]], keep=1) == 2
    assert prompting.shared_prefix_length([[7, 2], [1, 2]]) == 0
    assert prompting.shared_prefix_length([]) == 0


def test_chat_template_wraps_the_prompt_as_a_user_turn(tiny_pair):
    """Off by default (the original prompted raw text); on, the model sees its chat format."""
    lm = tiny_pair.receiver  # borrows SmolLM2-Instruct's tokenizer and its chat template
    raw = lm.tokenizer.decode(prompting._encode(lm, "Sentiment:", chat_template=False))
    chat = lm.tokenizer.decode(prompting._encode(lm, "Sentiment:", chat_template=True))
    assert raw == "Sentiment:"
    assert chat.index("<|im_start|>user\nSentiment:") < chat.index("<|im_start|>assistant")


def test_too_long_prompt_fails_with_the_context_size(tiny_pair):
    with pytest.raises(ValueError, match="exceeds tiny-mistral's context of 2048 positions"):
        prompting.generate_greedy(
            tiny_pair.receiver, ["word " * 2100], max_new_tokens=2, batch_size=1
        )


# ----------------------------------------------------------------------------- bad input via CLI


@pytest.fixture
def no_model_loads(monkeypatch):
    def refuse(spec, **kwargs):
        raise AssertionError(f"bad input must fail before any model loads; loaded {spec.key}")

    monkeypatch.setattr(prompting, "load_lm", refuse)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "few_shot", "--shots", "-2"], "shots (k) must be an integer >= 0, got -2"),
        (
            ["--method", "few_shot", "--shots", "5", "--set", "train_size=3"],
            "k=5 demonstrations requested but only 3 of the 3 synth_sentiment train items",
        ),
        (["--method", "text_relay", "--shots", "2"], "only applies to few_shot_sender"),
        (["--method", "text_relay", "--set", "steps=9"], "'steps' is a bridge setting"),
        (
            ["--method", "zero_shot_sender", "--set", "truncate_field=passage"],
            "truncate_field 'passage' is not a field of synth_sentiment/eval/0",
        ),
    ],
)
def test_bad_input_fails_before_any_model_loads(extra, message, no_model_loads, tmp_path, caplog):
    out = tmp_path / "r.json"
    argv = ["baseline", "--pair", "tiny", "--dataset", "synth_sentiment", "--seed", "1"]
    code = cli.main([*argv, "--protocol", "corrected", "--out", str(out), *extra])
    assert code == 1
    assert message in caplog.text
    assert not out.exists()


def test_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["baseline", "--method", "one_shot", "--pair", "tiny", "--dataset", "x"])
    assert err.value.code == 2
    assert "invalid choice: 'one_shot'" in capsys.readouterr().err


def test_baseline_help_lists_the_methods(capsys):
    with pytest.raises(SystemExit):
        cli.main(["baseline", "--help"])
    text = capsys.readouterr().out
    for method in ("zero_shot_sender", "zero_shot_receiver", "few_shot_receiver", "text_relay"):
        assert method in text


# ----------------------------------------------------------------------------- small pair


@pytest.mark.slow
@pytest.mark.small
@pytest.mark.timing  # 13 s alone; the bar is 90
def test_text_relay_on_the_small_pair(small_cache, tmp_path):
    """Real weights (Gemma-3-270M summarises, SmolLM2-135M-Instruct answers) on 3 items."""
    started = time.perf_counter()
    record = baseline(
        tmp_path,
        small_cache,
        "text_relay",
        "synth_sentiment",
        *("--set", "eval_first_n=3", "--set", "summary_max_new_tokens=16"),
        *("--set", "answer_max_new_tokens=4"),
        pair="small",
    )
    elapsed = time.perf_counter() - started
    summaries = [s["summary"] for s in record["samples"]]
    print(f"small text relay: {record['metrics']} in {elapsed:.1f} s; summaries {summaries}")
    assert all(summaries)  # a pretrained sender writes something for every item
    assert (
        record["parameters"]["sender_total"] > 2e8 and record["parameters"]["receiver_total"] > 1e8
    )
    assert record["pair"]["sender_revision"].startswith("gguf-sha256:")
    assert elapsed < 90


def test_schema_keeps_soft_token_fields_for_the_bridge(tmp_path):
    """The baselines' schema change (nullable model counts) leaves bridge records valid."""
    fixture = Path(__file__).parents[1] / "fixtures" / "results" / "eval_bridge_sst2.json"
    record = json.loads(fixture.read_text())
    record["parameters"]["receiver_total"] = -1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(record))
    assert any("parameters.receiver_total" in p for p in validate_file(path))
