"""Registry contents: names, label orders, label words, aliases and hub sources."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from telepathy.data import DATASETS, DatasetSpec, get_dataset
from telepathy.data.offline import GENERATORS
from telepathy.data.registry import BANKING77_INTENTS, PARQUET_EXPORT

REAL = ("sst2", "agnews", "trec", "banking77", "boolq", "piqa", "commonsenseqa", "gsm8k")
GENERATED = ("passkey", "synth_sentiment", "synth_topic", "synth_qtype")


def test_registry_holds_exactly_the_protocol_datasets() -> None:
    assert set(DATASETS) == set(REAL) | set(GENERATED)
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert get_dataset(name) is spec


def test_unknown_dataset_error_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'sst3'") as info:
        get_dataset("sst3")
    message = str(info.value)
    for name in DATASETS:
        assert name in message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("sst2", ("negative", "positive")),
        ("agnews", ("world", "sports", "business", "science")),
        ("trec", ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")),
        ("boolq", ("No", "Yes")),
        ("piqa", ("1", "2")),
        ("commonsenseqa", ("A", "B", "C", "D", "E")),
        ("synth_sentiment", ("negative", "positive")),
        ("synth_topic", ("world", "sports", "business", "science")),
        ("synth_qtype", ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")),
    ],
)
def test_label_words_in_encoding_order(name: str, words: tuple[str, ...]) -> None:
    spec = get_dataset(name)
    assert spec.label_words == words
    assert spec.label_names == words
    assert spec.num_classes == len(words)


def test_trec_order_is_not_the_swapped_consolidated_order() -> None:
    # method.md pitfall 24: ABBR, DESC, ENTY, ... swapped DESC (2) and ENTY (1).
    spec = get_dataset("trec")
    assert spec.label_names is not None
    assert spec.label_names.index("ENTY") == 1
    assert spec.label_names.index("DESC") == 2
    assert spec.hub is not None and spec.hub.class_names == spec.label_names
    assert spec.hub.label_column == "coarse_label"


def test_banking77_intents_published_order() -> None:
    spec = get_dataset("banking77")
    assert spec.label_names == BANKING77_INTENTS
    assert len(BANKING77_INTENTS) == 77 == len(set(BANKING77_INTENTS))
    assert BANKING77_INTENTS[0] == "activate_my_card"
    assert BANKING77_INTENTS[11] == "card_arrival"
    assert BANKING77_INTENTS[50] == "receiving_money"
    assert BANKING77_INTENTS[51] == "Refund_not_showing_up"
    assert BANKING77_INTENTS[53] == "reverted_card_payment?"
    assert BANKING77_INTENTS[76] == "wrong_exchange_rate_for_cash_withdrawal"
    # Case-insensitive alphabetical is the published order (only "Refund..." is capitalised).
    assert list(BANKING77_INTENTS) == sorted(BANKING77_INTENTS, key=str.lower)


def test_aliases_for_lenient_rule() -> None:
    agnews = get_dataset("agnews")
    assert set(agnews.label_aliases) == {"science"}
    assert set(agnews.label_aliases["science"]) == {"technology", "tech", "sci/tech", "scitech"}
    assert get_dataset("synth_topic").label_aliases["science"] == agnews.label_aliases["science"]
    banking = get_dataset("banking77")
    assert banking.label_aliases["card_arrival"] == ("card arrival",)
    assert banking.label_aliases["Refund_not_showing_up"] == ("Refund not showing up",)
    assert len(banking.label_aliases) == 77
    assert dict(get_dataset("sst2").label_aliases) == {}


@pytest.mark.parametrize(
    ("name", "path", "config", "train", "eval", "files"),
    [
        ("sst2", "nyu-mll/glue", "sst2", "train", "validation", "sst2/{split}-*.parquet"),
        ("agnews", "fancyzhx/ag_news", "default", "train", "test", "data/{split}-*.parquet"),
        ("trec", "CogComp/trec", "default", "train", "test", "default/{split}/*.parquet"),
        ("banking77", "PolyAI/banking77", "default", "train", "test", "default/{split}/*.parquet"),
        ("boolq", "google/boolq", "default", "train", "validation", "data/{split}-*.parquet"),
        ("piqa", "ybisk/piqa", "plain_text", "train", "validation",
         "plain_text/{split}/*.parquet"),
        ("commonsenseqa", "tau/commonsense_qa", "default", "train", "validation",
         "data/{split}-*.parquet"),
        ("gsm8k", "openai/gsm8k", "main", "train", "test", "main/{split}-*.parquet"),
    ],
)  # fmt: skip
def test_hub_sources(name: str, path: str, config: str, train: str, eval: str, files: str) -> None:
    """The repos, configs and file layouts of hub-readiness.md's per-item table."""
    spec = get_dataset(name)
    assert spec.generator is None and spec.analogue is None
    hub = spec.hub
    assert hub is not None
    assert (hub.path, hub.config, hub.train_split, hub.eval_split) == (path, config, train, eval)
    assert hub.split_name("train") == train and hub.split_name("eval") == eval
    script_dataset = name in {"trec", "banking77", "piqa"}
    assert hub.revision == (PARQUET_EXPORT if script_dataset else "main")
    assert dict(hub.files) == {split: files.format(split=split) for split in (train, eval)}


def test_split_name_rejects_unknown_split() -> None:
    hub = get_dataset("sst2").hub
    assert hub is not None
    with pytest.raises(ValueError, match=r"'validation'.*train, eval"):
        hub.split_name("validation")


@pytest.mark.parametrize(
    ("name", "analogue"),
    [
        ("synth_sentiment", "sst2"),
        ("synth_topic", "agnews"),
        ("synth_qtype", "trec"),
        ("passkey", None),
    ],
)
def test_generated_specs(name: str, analogue: str | None) -> None:
    spec = get_dataset(name)
    assert spec.hub is None
    assert spec.generator == name and spec.generator in GENERATORS
    assert spec.analogue == analogue
    if analogue is not None:
        assert spec.label_words == get_dataset(analogue).label_words


def test_task_types() -> None:
    types = {name: spec.task_type for name, spec in DATASETS.items()}
    assert types["gsm8k"] == "numeric" and types["passkey"] == "passkey"
    assert {types[n] for n in ("boolq", "piqa", "commonsenseqa")} == {"multiple_choice"}
    assert {types[n] for n in ("sst2", "agnews", "trec", "banking77")} == {"classification"}
    assert get_dataset("gsm8k").label_names is None and get_dataset("passkey").label_words is None


def test_label_word_lookup() -> None:
    assert get_dataset("boolq").label_word("Yes") == "Yes"
    assert get_dataset("gsm8k").label_word("1234") == "1234"
    with pytest.raises(ValueError, match=r"unknown label 'neutral'.*negative, positive"):
        get_dataset("sst2").label_word("neutral")


def test_specs_are_frozen_and_validated() -> None:
    spec = get_dataset("sst2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"unknown task_type 'regression'.*classification"):
        dataclasses.replace(spec, task_type="regression")
    with pytest.raises(ValueError, match=r"exactly one of hub and generator"):
        dataclasses.replace(spec, generator="synth_sentiment")
    with pytest.raises(ValueError, match=r"unknown label words"):
        dataclasses.replace(spec, label_aliases={"neutral": ("meh",)})
    assert isinstance(spec, DatasetSpec)


def test_importing_the_package_does_not_import_datasets() -> None:
    code = "import sys, telepathy.data; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
