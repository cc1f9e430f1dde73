"""Real-shaped fixtures through a data snapshot, the row mappers and the label-order check.

Every test reads rows the way a job does: from the snapshot prepare-data wrote (here from the
hand-copied JSON Lines fixtures; from the hub's own layouts in test_data_snapshot.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_files

from telepathy.data import LocalFiles, get_dataset, load_examples, open_snapshot, write_snapshot
from telepathy.data.loading import (
    ROW_MAPPERS,
    check_label_names,
    gsm8k_final_answer,
    map_commonsenseqa,
    map_sst2,
    map_trec,
)
from telepathy.data.registry import TREC_COARSE, Example

REAL = ("sst2", "agnews", "trec", "banking77", "boolq", "piqa", "commonsenseqa", "gsm8k")
FIELDS = {
    "sst2": {"text"},
    "agnews": {"text"},
    "trec": {"text"},
    "banking77": {"text"},
    "boolq": {"passage", "question"},
    "piqa": {"goal", "sol1", "sol2"},
    "commonsenseqa": {"question", "choices", *(f"choice_{k}" for k in "ABCDE")},
    "gsm8k": {"question"},
}


@pytest.fixture
def load(fixture_snapshot):
    """(name, split) -> that fixture split's Examples, read through its snapshot."""
    cache: dict[tuple[str, str], list[Example]] = {}

    def read(name: str, split: str) -> list[Example]:
        if (name, split) not in cache:
            snapshot = fixture_snapshot(name)
            cache[name, split] = load_examples(get_dataset(name), split, snapshot=snapshot)
        return cache[name, split]

    return read


def n_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.mark.parametrize("split", ["train", "eval"])
@pytest.mark.parametrize("name", REAL)
def test_every_fixture_loads_with_the_template_fields(load, name: str, split: str) -> None:
    spec = get_dataset(name)
    examples = load(name, split)
    assert len(examples) == n_lines(fixture_files(name).path(split))
    assert spec.hub is not None
    prefix = f"{name}/{spec.hub.split_name(split)}/"
    assert len({e.uid for e in examples}) == len(examples)
    for example in examples:
        assert example.uid.startswith(prefix)
        assert set(example.fields) == FIELDS[name]
        assert all(isinstance(v, str) and v for v in example.fields.values())
        if spec.label_names is not None:
            assert example.label in spec.label_names


def test_sst2_rows(load) -> None:
    examples = load("sst2", "eval")
    assert examples[0].uid == "sst2/validation/0"
    assert examples[0].fields == {"text": "it 's a charming and often affecting journey . "}
    assert examples[0].label == "positive"
    assert examples[1].label == "negative"
    # The uid is the dataset's idx column, not the row position.
    assert examples[6].uid == "sst2/validation/17"
    assert examples[6].label == "negative"
    assert [e.label for e in load("sst2", "train")[:3]] == ["negative", "negative", "positive"]


def test_agnews_rows(load) -> None:
    examples = load("agnews", "eval")
    assert examples[0].uid == "agnews/test/0"
    assert examples[0].label == "business"
    assert examples[1].label == "science"  # label 3 (Sci/Tech)
    assert examples[5].label == "world"
    assert examples[6].label == "sports"
    assert examples[6].fields["text"].startswith("Sharapova wins")


def test_trec_rows_use_coarse_label_in_published_order(load) -> None:
    examples = load("trec", "eval")
    assert [e.label for e in examples] == ["NUM", "LOC", "HUM", "DESC", "NUM", "ENTY", "ABBR"]
    assert examples[3].fields == {"text": "What is an atom ?"}  # coarse_label 2
    assert examples[5].fields == {"text": "What color is a poison arrow frog ?"}  # coarse_label 1
    assert examples[5].uid == "trec/test/5"
    train = load("trec", "train")
    assert train[0].label == "DESC" and train[1].label == "ENTY"


def test_banking77_rows(load) -> None:
    examples = load("banking77", "eval")
    assert [e.label for e in examples] == [
        "card_arrival", "card_arrival", "Refund_not_showing_up", "reverted_card_payment?",
        "apple_pay_or_google_pay", "change_pin", "wrong_exchange_rate_for_cash_withdrawal",
    ]  # fmt: skip
    assert examples[0].fields == {"text": "How do I locate my card?"}
    assert load("banking77", "train")[2].label == "activate_my_card"


def test_boolq_rows(load) -> None:
    examples = load("boolq", "eval")
    assert [e.label for e in examples] == ["No", "Yes", "Yes", "Yes", "Yes", "No"]
    assert examples[1].fields["question"] == "is house tax and property tax are same"
    assert examples[1].fields["passage"].startswith("Property tax -- Property tax or 'house tax'")
    assert examples[0].uid == "boolq/validation/0"
    assert load("boolq", "train")[0].label == "Yes"


def test_piqa_rows(load) -> None:
    examples = load("piqa", "eval")
    assert [e.label for e in examples] == ["1", "2", "2", "2", "1", "1"]
    assert examples[3].fields == {
        "goal": "Make outdoor pillow.",
        "sol1": "Blow into tin can and tie with rubber band.",
        "sol2": "Blow into trash bag and tie with rubber band.",
    }
    assert load("piqa", "train")[0].label == "2"


def test_commonsenseqa_rows_format_choices_and_use_the_id_column(load) -> None:
    examples = load("commonsenseqa", "eval")
    first = examples[0]
    assert first.uid == "commonsenseqa/validation/1afa02df02c908a558b4036e80242fac"
    assert first.label == "A"
    assert first.fields["choices"] == (
        "A. bank\nB. library\nC. department store\nD. mall\nE. new york"
    )
    assert first.fields["choice_C"] == "department store"
    assert first.fields["question"].startswith("A revolving door is convenient")
    assert [e.label for e in examples] == ["A", "A", "B", "A", "E", "C"]


def test_gsm8k_rows_take_the_final_number_without_commas(load) -> None:
    train = load("gsm8k", "train")
    assert [e.label for e in train] == ["72", "10", "1234", "42", "2499000", "5"]
    assert train[2].fields == {
        "question": "A store sells 1,234 apples on Monday and nothing else all week. "
        "How many apples did it sell that week?"
    }
    test = load("gsm8k", "eval")
    assert [e.label for e in test] == ["18", "3", "70000", "540", "1234", "260"]
    assert test[0].uid == "gsm8k/test/0"


@pytest.mark.parametrize(
    ("answer", "final"),
    [
        ("so 3\n#### 1,234", "1234"),
        ("#### 72", "72"),
        ("x #### 1 #### -5", "-5"),
        ("#### 2.5 ", "2.5"),
    ],
)
def test_gsm8k_final_answer(answer: str, final: str) -> None:
    assert gsm8k_final_answer(answer) == final


@pytest.mark.parametrize("answer", ["the answer is 5", "#### five", "#### $5"])
def test_gsm8k_final_answer_rejects_malformed(answer: str) -> None:
    with pytest.raises(ValueError, match=r"GSM8K"):
        gsm8k_final_answer(answer)


# ---------------------------------------------------------------------------------------------
# Row mappers on plain dicts.


def test_mappers_cover_every_real_dataset() -> None:
    assert set(ROW_MAPPERS) == set(REAL)


def test_missing_column_names_dataset_column_and_columns_present() -> None:
    with pytest.raises(ValueError) as info:
        map_sst2({"idx": 3, "text": "oops", "label": 1})
    message = str(info.value)
    assert "'sst2'" in message and "'sentence'" in message
    assert "columns present: idx, label, text" in message


def test_trec_mapper_ignores_fine_label_and_range_checks() -> None:
    row = {"text": "Who was Galileo ?", "coarse_label": 3, "fine_label": 31}
    mapped = map_trec(row)
    assert (dict(mapped.fields), mapped.label, mapped.row_id) == (
        {"text": "Who was Galileo ?"}, "HUM", None,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"class id 6; expected 0\.\.5"):
        map_trec({**row, "coarse_label": 6})
    with pytest.raises(ValueError, match=r"expected an integer class id"):
        map_trec({**row, "coarse_label": "HUM"})
    with pytest.raises(ValueError, match=r"expected an integer class id"):
        map_trec({**row, "coarse_label": True})


def test_text_column_must_be_a_string() -> None:
    with pytest.raises(ValueError, match=r"'text' holds None.*expected a string"):
        map_trec({"text": None, "coarse_label": 0, "fine_label": 0})


def test_piqa_rejects_the_unlabelled_test_split() -> None:
    with pytest.raises(ValueError, match=r"class id -1"):
        ROW_MAPPERS["piqa"]({"goal": "g", "sol1": "a", "sol2": "b", "label": -1})


def test_boolq_requires_a_bool_answer() -> None:
    with pytest.raises(ValueError, match=r"expected a bool"):
        ROW_MAPPERS["boolq"]({"question": "q", "passage": "p", "answer": "true"})


def test_commonsenseqa_mapper_validates_choices_and_key() -> None:
    row: dict[str, Any] = {
        "id": "x1", "question": "Q?", "question_concept": "c",
        "choices": {"label": list("ABCDE"), "text": ["a", "b", "c", "d", "e"]}, "answerKey": "E",
    }  # fmt: skip
    mapped = map_commonsenseqa(row)
    assert mapped.label == "E" and mapped.row_id == "x1"
    assert mapped.fields["choices"] == "A. a\nB. b\nC. c\nD. d\nE. e"
    with pytest.raises(ValueError, match=r"answerKey ''"):
        map_commonsenseqa({**row, "answerKey": ""})
    with pytest.raises(ValueError, match=r"choices labels"):
        map_commonsenseqa({**row, "choices": {"label": list("ABCD"), "text": list("abcd")}})


# ---------------------------------------------------------------------------------------------
# Other hand-copied formats, and the label-order check.


def _trec_dataset(names: list[str]) -> Any:
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features(
        {"text": Value("string"), "coarse_label": ClassLabel(names=names),
         "fine_label": Value("int64")}
    )  # fmt: skip
    rows = {"text": ["What is an atom ?", "What color is a frog ?"], "coarse_label": [2, 1],
            "fine_label": [24, 3]}  # fmt: skip
    return Dataset.from_dict(rows, features=features)


def _local_snapshot(tmp_path: Path, name: str, local: LocalFiles):
    write_snapshot(get_dataset(name), tmp_path / "snapshot", local=local)
    return open_snapshot(tmp_path / "snapshot", name)


def test_trec_classlabel_in_published_order_loads_from_disk(tmp_path: Path) -> None:
    for split in ("train", "test"):
        _trec_dataset(list(TREC_COARSE)).save_to_disk(str(tmp_path / split))
    local = LocalFiles("save_to_disk", tmp_path / "train", tmp_path / "test")
    snapshot = _local_snapshot(tmp_path, "trec", local)
    assert snapshot.manifest["label_names_from"] == "ClassLabel"
    examples = load_examples(get_dataset("trec"), "eval", snapshot=snapshot)
    assert [e.label for e in examples] == ["DESC", "ENTY"]
    assert examples[0].uid == "trec/test/0"


def test_trec_classlabel_swapped_order_is_refused_before_any_snapshot(tmp_path: Path) -> None:
    swapped = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]  # the consolidated script's order
    for split in ("train", "test"):
        _trec_dataset(swapped).save_to_disk(str(tmp_path / split))
    local = LocalFiles("save_to_disk", tmp_path / "train", tmp_path / "test")
    with pytest.raises(ValueError, match=r"expected \('ABBR', 'ENTY', 'DESC'.*refusing"):
        _local_snapshot(tmp_path, "trec", local)
    assert not (tmp_path / "snapshot" / "snapshot.json").exists()


def test_label_name_check() -> None:
    sst2 = get_dataset("sst2")
    check_label_names(sst2, ["negative", "positive"])
    check_label_names(sst2, None)  # JSON copies: no ClassLabel; the mappers range-check
    with pytest.raises(ValueError, match=r"'sst2'.*silently remapped"):
        check_label_names(sst2, ["positive", "negative"])
    with pytest.raises(ValueError, match=r"3 classes"):
        check_label_names(get_dataset("piqa"), ["0", "1", "2"])


def test_parquet_local_files_use_the_same_mapping(tmp_path: Path) -> None:
    from datasets import Dataset

    rows = [{"question": "Q1?", "answer": "a\n#### 3,000"}, {"question": "Q2?", "answer": "#### 4"}]
    for split in ("train", "test"):
        Dataset.from_list(rows).to_parquet(str(tmp_path / f"{split}.parquet"))
    local = LocalFiles("parquet", tmp_path / "train.parquet", tmp_path / "test.parquet")
    snapshot = _local_snapshot(tmp_path, "gsm8k", local)
    examples = load_examples(get_dataset("gsm8k"), "eval", snapshot=snapshot)
    assert [(e.uid, e.fields["question"], e.label) for e in examples] == [
        ("gsm8k/test/0", "Q1?", "3000"), ("gsm8k/test/1", "Q2?", "4"),
    ]  # fmt: skip


def test_json_local_folder_is_globbed(tmp_path: Path) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "part-0.jsonl").write_text('{"text": "a", "label": 0}\n')
    (folder / "part-1.jsonl").write_text('{"text": "b", "label": 3}\n')
    local = LocalFiles("json", folder, folder)
    snapshot = _local_snapshot(tmp_path, "agnews", local)
    examples = load_examples(get_dataset("agnews"), "eval", snapshot=snapshot)
    assert [(e.fields["text"], e.label) for e in examples] == [("a", "world"), ("b", "science")]


def test_missing_local_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "validation.jsonl"
    (tmp_path / "train.jsonl").write_text('{"idx": 0, "sentence": "fine", "label": 1}\n')
    local = LocalFiles("json", tmp_path / "train.jsonl", missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        _local_snapshot(tmp_path, "sst2", local)


def test_a_row_missing_a_column_fails_when_the_snapshot_is_written(tmp_path: Path) -> None:
    path = tmp_path / "validation.jsonl"
    path.write_text('{"idx": 0, "text": "wrong column name", "label": 1}\n')
    local = LocalFiles("json", path, path)
    with pytest.raises(ValueError, match=r"'sst2'.*'sentence'.*columns present: idx, label, text"):
        _local_snapshot(tmp_path, "sst2", local)
    assert not (tmp_path / "snapshot" / "snapshot.json").exists()


def test_bad_arguments(fixture_snapshot) -> None:
    with pytest.raises(ValueError, match=r"unknown local format 'csv'.*json, parquet"):
        LocalFiles("csv", Path("a"), Path("b"))
    with pytest.raises(ValueError, match=r"unknown split 'test'.*train, eval"):
        load_examples(get_dataset("sst2"), "test")
    with pytest.raises(ValueError, match=r"n_generated=10"):
        load_examples(get_dataset("sst2"), "train", n_generated=10)
    with pytest.raises(ValueError, match=r"holds dataset 'sst2', not 'passkey'"):
        load_examples(get_dataset("passkey"), "eval", snapshot=fixture_snapshot("sst2"))
    with pytest.raises(ValueError, match=r"read from its data snapshot only.*prepare-data"):
        load_examples(get_dataset("trec"), "eval")
    with pytest.raises(ValueError, match=r"generated; it takes no local files"):
        write_snapshot(get_dataset("passkey"), Path("unused"), local=fixture_files("sst2"))
