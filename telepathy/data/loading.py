"""Normalised examples from a dataset's rows: the row mappers, the label-order check, local copies.

Jobs read rows only from a data snapshot (telepathy.data.snapshot); this module turns rows into
Examples the same way whatever their origin.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telepathy.data.offline import generate
from telepathy.data.registry import (
    BANKING77_INTENTS,
    SENTIMENT,
    TOPICS,
    TREC_COARSE,
    DatasetSpec,
    Example,
)

if TYPE_CHECKING:
    from telepathy.data.snapshot import DataSnapshot

SPLITS = ("train", "eval")
LOCAL_FORMATS = ("json", "parquet", "save_to_disk")
CSQA_LETTERS = ("A", "B", "C", "D", "E")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class LocalFiles:
    """Pre-fetched copies of a dataset's two splits, for clusters without internet."""

    format: str
    train: Path
    eval: Path

    def __post_init__(self) -> None:
        if self.format not in LOCAL_FORMATS:
            raise ValueError(
                f"unknown local format {self.format!r}; expected one of: {', '.join(LOCAL_FORMATS)}"
            )
        # Accept str paths from configs; frozen, so set through object.
        object.__setattr__(self, "train", Path(self.train))
        object.__setattr__(self, "eval", Path(self.eval))

    def path(self, split: str) -> Path:
        """The file or folder holding one protocol split."""
        return self.train if split == "train" else self.eval


@dataclass(frozen=True)
class MappedRow:
    """What a dataset's row mapper extracts: template fields, gold label and the row's own id."""

    fields: Mapping[str, str]
    label: str
    row_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Row mappers: one pure function per dataset, used identically for hub and local rows.


def _column(dataset: str, row: Row, column: str) -> Any:
    """Fetch a column, naming the dataset and the columns present when it is missing."""
    if column not in row:
        raise ValueError(
            f"dataset {dataset!r}: row is missing column {column!r}; "
            f"columns present: {', '.join(sorted(row)) or '(none)'}"
        )
    return row[column]


def _text(dataset: str, row: Row, column: str) -> str:
    """Fetch a text column and insist it is a string (a null would print as 'None')."""
    value = _column(dataset, row, column)
    if not isinstance(value, str):
        raise ValueError(
            f"dataset {dataset!r}: column {column!r} holds {value!r} "
            f"({type(value).__name__}); expected a string"
        )
    return value


def _class(dataset: str, row: Row, column: str, names: Sequence[str]) -> str:
    """Decode an integer class column into its canonical name."""
    value = _column(dataset, row, column)
    try:
        if isinstance(value, bool):
            raise TypeError  # a bool is an int in Python but never a valid class id here
        index = operator.index(value)
    except TypeError:
        raise ValueError(
            f"dataset {dataset!r}: column {column!r} holds {value!r}; "
            f"expected an integer class id in 0..{len(names) - 1}"
        ) from None
    if not 0 <= index < len(names):
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise ValueError(
            f"dataset {dataset!r}: column {column!r} holds class id {index}; "
            f"expected 0..{len(names) - 1} ({shown})"
        )
    return names[index]


def map_sst2(row: Row) -> MappedRow:
    """SST-2: `sentence` -> text; label 0/1 -> negative/positive; `idx` is the row id."""
    return MappedRow(
        {"text": _text("sst2", row, "sentence")},
        _class("sst2", row, "label", SENTIMENT),
        str(_column("sst2", row, "idx")),
    )


def map_agnews(row: Row) -> MappedRow:
    """AG News: text; label 0..3 -> world/sports/business/science."""
    return MappedRow({"text": _text("agnews", row, "text")}, _class("agnews", row, "label", TOPICS))


def map_trec(row: Row) -> MappedRow:
    """TREC: text; coarse_label 0..5 -> ABBR/ENTY/DESC/HUM/LOC/NUM."""
    return MappedRow(
        {"text": _text("trec", row, "text")}, _class("trec", row, "coarse_label", TREC_COARSE)
    )


def map_banking77(row: Row) -> MappedRow:
    """Banking77: text; label 0..76 -> intent name."""
    return MappedRow(
        {"text": _text("banking77", row, "text")},
        _class("banking77", row, "label", BANKING77_INTENTS),
    )


def map_boolq(row: Row) -> MappedRow:
    """BoolQ: passage and question; bool answer -> Yes/No."""
    answer = _column("boolq", row, "answer")
    if not isinstance(answer, bool):
        raise ValueError(f"dataset 'boolq': column 'answer' holds {answer!r}; expected a bool")
    fields = {
        "passage": _text("boolq", row, "passage"),
        "question": _text("boolq", row, "question"),
    }
    return MappedRow(fields, "Yes" if answer else "No")


def map_piqa(row: Row) -> MappedRow:
    """PIQA: goal, sol1, sol2; label 0/1 -> "1"/"2" (the test split's -1 is rejected)."""
    fields = {col: _text("piqa", row, col) for col in ("goal", "sol1", "sol2")}
    return MappedRow(fields, _class("piqa", row, "label", ("1", "2")))


def map_commonsenseqa(row: Row) -> MappedRow:
    """CommonsenseQA: question, lettered `choices` block, choice_A..choice_E; answerKey letter."""
    choices = _column("commonsenseqa", row, "choices")
    if not isinstance(choices, Mapping) or "label" not in choices or "text" not in choices:
        raise ValueError(
            f"dataset 'commonsenseqa': column 'choices' holds {choices!r}; "
            "expected a {'label': [...], 'text': [...]} struct"
        )
    letters, texts = list(choices["label"]), list(choices["text"])
    if letters != list(CSQA_LETTERS) or len(texts) != len(letters):
        raise ValueError(
            f"dataset 'commonsenseqa': choices labels {letters} with {len(texts)} texts; "
            f"expected labels {list(CSQA_LETTERS)} with one text each"
        )
    answer = _text("commonsenseqa", row, "answerKey")
    if answer not in CSQA_LETTERS:
        raise ValueError(
            f"dataset 'commonsenseqa': answerKey {answer!r}; expected one of: "
            f"{', '.join(CSQA_LETTERS)}"
        )
    fields = {
        "question": _text("commonsenseqa", row, "question"),
        "choices": "\n".join(f"{k}. {t}" for k, t in zip(letters, texts, strict=True)),
        **{f"choice_{k}": t for k, t in zip(letters, texts, strict=True)},
    }
    return MappedRow(fields, answer, _text("commonsenseqa", row, "id"))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def gsm8k_final_answer(answer: str) -> str:
    """The number after the last '####' of a GSM8K solution, commas removed ("1,234" -> "1234")."""
    if "####" not in answer:
        raise ValueError(f"GSM8K answer has no '####' marker: {answer[-80:]!r}")
    final = answer.rsplit("####", 1)[1].strip().replace(",", "")
    if not _NUMBER.fullmatch(final):
        raise ValueError(f"GSM8K final answer {final!r} is not a number; expected e.g. '1234'")
    return final


def map_gsm8k(row: Row) -> MappedRow:
    """GSM8K: question; gold = the final number after '####'."""
    return MappedRow(
        {"question": _text("gsm8k", row, "question")},
        gsm8k_final_answer(_text("gsm8k", row, "answer")),
    )


ROW_MAPPERS: Mapping[str, Callable[[Row], MappedRow]] = {
    "sst2": map_sst2,
    "agnews": map_agnews,
    "trec": map_trec,
    "banking77": map_banking77,
    "boolq": map_boolq,
    "piqa": map_piqa,
    "commonsenseqa": map_commonsenseqa,
    "gsm8k": map_gsm8k,
}


def row_to_example(spec: DatasetSpec, row: Row, split_name: str, index: int) -> Example:
    """Map one raw row into an Example; the uid prefers the dataset's own id column."""
    try:
        mapper = ROW_MAPPERS[spec.name]
    except KeyError:
        raise ValueError(
            f"no row mapper for dataset {spec.name!r}; mapped datasets: {', '.join(ROW_MAPPERS)}"
        ) from None
    mapped = mapper(row)
    row_id = mapped.row_id if mapped.row_id is not None else str(index)
    return Example(
        uid=f"{spec.name}/{split_name}/{row_id}", fields=dict(mapped.fields), label=mapped.label
    )


# ---------------------------------------------------------------------------------------------
# Label order, local copies, and examples from a snapshot.


def check_label_names(spec: DatasetSpec, names: Sequence[str] | None) -> None:
    """Fail if a dataset's label names disagree with the registry's order (pitfall 24).

    `names` are the ClassLabel names of the files (or None where the files carry none, as in
    JSON copies: the row mappers then range-check the integers).
    """
    hub = spec.hub
    if hub is None or hub.label_column is None or names is None:
        return
    names = tuple(names)
    expected = hub.class_names
    if expected is None:
        if spec.num_classes is not None and len(names) != spec.num_classes:
            raise ValueError(
                f"dataset {spec.name!r}: column {hub.label_column!r} has {len(names)} classes "
                f"{names}; expected {spec.num_classes}"
            )
        return
    if names != expected:
        raise ValueError(
            f"dataset {spec.name!r}: column {hub.label_column!r} ClassLabel names are {names}; "
            f"expected {expected} in that order, or gold labels would be silently remapped"
        )


_LOCAL_GLOBS = {"json": ("*.jsonl", "*.json"), "parquet": ("*.parquet",)}


def load_local_split(
    spec: DatasetSpec, local: LocalFiles, split: str, split_name: str, *, cache_dir: Path
) -> Any:
    """One split of hand-copied files as a `datasets.Dataset` (for prepare-data to snapshot).

    `cache_dir` receives what the json/parquet builders write; prepare-data passes a temporary
    folder, so nothing of it is left in (or read back from) the `datasets` cache.
    """
    path = local.path(split)
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {spec.name!r}: local {split} {local.format} data not found at {path}"
        )
    if local.format == "save_to_disk":
        from datasets import DatasetDict, load_from_disk

        loaded = load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            if split_name not in loaded:
                raise ValueError(
                    f"dataset {spec.name!r}: {path} holds splits {', '.join(loaded)}; "
                    f"expected {split_name!r}"
                )
            return loaded[split_name]
        return loaded
    from datasets import load_dataset

    if path.is_dir():
        files = sorted(str(f) for g in _LOCAL_GLOBS[local.format] for f in path.glob(g))
        if not files:
            patterns = " or ".join(_LOCAL_GLOBS[local.format])
            raise FileNotFoundError(f"dataset {spec.name!r}: no {patterns} files in {path}")
    else:
        files = [str(path)]
    # The packaged builders put everything under their one default split, "train".
    return load_dataset(local.format, data_files=files, split="train", cache_dir=str(cache_dir))


def load_examples(
    spec: DatasetSpec,
    split: str,
    *,
    snapshot: DataSnapshot | None = None,
    n_generated: int | None = None,
    task_seed: int = 0,
) -> list[Example]:
    """Load one protocol split ("train" | "eval") as Examples in the dataset's own order.

    Real datasets come only from their data snapshot (prepare-data), never from the hub or
    the `datasets` cache; generated ones from their generator (a snapshot is then checked to
    be that dataset's, when given).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    if snapshot is not None and snapshot.dataset != spec.name:
        raise ValueError(
            f"data snapshot {snapshot.folder} holds dataset {snapshot.dataset!r}, not "
            f"{spec.name!r}; point --data at results/data/{spec.name}/snapshot.json"
        )
    if spec.generator is not None:
        # The eval set stays fixed whatever the train size, so n_generated only sizes train.
        n = n_generated if split == "train" else None
        return generate(spec.generator, split, n=n, seed=task_seed)
    if n_generated is not None:
        raise ValueError(
            f"dataset {spec.name!r} is not generated; n_generated={n_generated} only applies to "
            "generated datasets (slice the returned list instead)"
        )
    if spec.hub is None:
        raise ValueError(f"dataset {spec.name!r} has neither a hub source nor a generator")
    if snapshot is None:
        raise ValueError(
            f"dataset {spec.name!r} is read from its data snapshot only: pass --data "
            f"results/data/{spec.name}/snapshot.json, written once by `telepathy prepare-data "
            f"--dataset {spec.name} --snapshot results/data/{spec.name}`"
        )
    split_name = spec.hub.split_name(split)
    rows = snapshot.rows(split)
    return [row_to_example(spec, row, split_name, i) for i, row in enumerate(rows)]
