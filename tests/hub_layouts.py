"""The eight real datasets laid out as their hub repos are (hub-readiness.md), from the fixtures.

Each repo gets the files the real one has at the revision the registry reads: the parquet
export branch `refs/convert/parquet` (`default/{train,test}/0000.parquet` for TREC and
Banking77, `plain_text/{split}/0000.parquet` for PIQA, while `main` holds only the loading
script) or `main` (`sst2/…`, `data/…`, `main/…` shards). Rows are the JSON Lines fixtures,
written with the features (ClassLabel names in the dataset's order) that the hub's files carry
in their `huggingface` schema metadata. Splits and configs that no protocol reads are there too,
so a test can check that prepare-data downloads only what it needs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telepathy.data.registry import BANKING77_INTENTS, SENTIMENT, TREC_COARSE

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
PARQUET = "refs/convert/parquet"


def _features(name: str):
    from datasets import ClassLabel, Features, Sequence, Value

    text = Value("string")
    return {
        "sst2": Features({"sentence": text, "label": ClassLabel(names=list(SENTIMENT)),
                          "idx": Value("int32")}),
        "agnews": Features({"text": text, "label": ClassLabel(
            names=["World", "Sports", "Business", "Sci/Tech"])}),
        "trec": Features({"text": text, "coarse_label": ClassLabel(names=list(TREC_COARSE)),
                          "fine_label": ClassLabel(num_classes=50)}),
        "banking77": Features({"text": text,
                               "label": ClassLabel(names=list(BANKING77_INTENTS))}),
        "boolq": Features({"question": text, "answer": Value("bool"), "passage": text}),
        "piqa": Features({"goal": text, "sol1": text, "sol2": text,
                          "label": ClassLabel(names=["0", "1"])}),
        "commonsenseqa": Features({"id": text, "question": text, "question_concept": text,
                                   "choices": Sequence({"label": text, "text": text}),
                                   "answerKey": text}),
        "gsm8k": Features({"question": text, "answer": text}),
    }[name]  # fmt: skip


def rows(name: str, split: str) -> list[dict]:
    path = FIXTURES / name / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def parquet_bytes(name: str, table_rows: list[dict], features=None, **write_options) -> bytes:
    """The rows as a parquet file with the dataset's features in the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = (features or _features(name)).arrow_schema
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(table_rows, schema=schema), buffer, **write_options)
    return buffer.getvalue()


@dataclass(frozen=True)
class Layout:
    """A dataset's repo: its id, the ref the registry reads and what each branch holds."""

    repo_id: str
    revision: str  # the ref holding the parquet files the registry reads
    files: Callable[[str], dict[str, bytes]]  # dataset name -> {repo path: bytes} on `revision`
    main_only: dict[str, bytes]  # what `main` holds when the files live on another ref
    needed: tuple[str, ...]  # the repo paths prepare-data must download


def _shards(name: str, pattern: str, splits: dict[str, str]) -> dict[str, bytes]:
    """{pattern.format(split=s): parquet of fixture split f} for s, f in splits."""
    return {pattern.format(split=s): parquet_bytes(name, rows(name, f)) for s, f in splits.items()}


def _unlabelled(name: str, split: str, column: str, value) -> bytes:
    return parquet_bytes(name, [{**row, column: value} for row in rows(name, split)])


SCRIPT = b"# a datasets loading script: datasets >= 4 refuses it\n"
README = b"---\nconfigs:\n- config_name: default\n---\n# card\n"

LAYOUTS: dict[str, Layout] = {
    "sst2": Layout(
        "nyu-mll/glue",
        "main",
        lambda n: {
            **_shards(
                n,
                "sst2/{split}-00000-of-00001.parquet",
                {"train": "train", "validation": "validation"},
            ),
            "sst2/test-00000-of-00001.parquet": _unlabelled(n, "validation", "label", -1),
            "cola/train-00000-of-00001.parquet": b"another config's data",
            "README.md": README,
        },
        {},
        ("sst2/train-00000-of-00001.parquet", "sst2/validation-00000-of-00001.parquet"),
    ),
    "agnews": Layout(
        "fancyzhx/ag_news",
        "main",
        lambda n: {
            **_shards(n, "data/{split}-00000-of-00001.parquet", {"train": "train", "test": "test"}),
            "README.md": README,
        },
        {},
        ("data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"),
    ),
    "trec": Layout(
        "CogComp/trec",
        PARQUET,
        lambda n: {
            **_shards(n, "default/{split}/0000.parquet", {"train": "train", "test": "test"}),
            ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
        },
        {"trec.py": SCRIPT, "README.md": README},
        ("default/train/0000.parquet", "default/test/0000.parquet"),
    ),
    "banking77": Layout(
        "PolyAI/banking77",
        PARQUET,
        lambda n: _shards(n, "default/{split}/0000.parquet", {"train": "train", "test": "test"}),
        {"banking77.py": SCRIPT, "README.md": README},
        ("default/train/0000.parquet", "default/test/0000.parquet"),
    ),
    "boolq": Layout(
        "google/boolq",
        "main",
        lambda n: _shards(
            n, "data/{split}-00000-of-00001.parquet", {"train": "train", "validation": "validation"}
        ),
        {},
        ("data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"),
    ),
    "piqa": Layout(
        "ybisk/piqa",
        PARQUET,
        lambda n: {
            **_shards(
                n, "plain_text/{split}/0000.parquet", {"train": "train", "validation": "validation"}
            ),
            "plain_text/test/0000.parquet": _unlabelled(n, "validation", "label", -1),
        },
        {"piqa.py": SCRIPT, "README.md": README},
        ("plain_text/train/0000.parquet", "plain_text/validation/0000.parquet"),
    ),
    "commonsenseqa": Layout(
        "tau/commonsense_qa",
        "main",
        lambda n: {
            **_shards(
                n,
                "data/{split}-00000-of-00001.parquet",
                {"train": "train", "validation": "validation"},
            ),
            "data/test-00000-of-00001.parquet": _unlabelled(n, "validation", "answerKey", ""),
        },
        {},
        ("data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"),
    ),
    "gsm8k": Layout(
        "openai/gsm8k",
        "main",
        lambda n: {
            **_shards(n, "main/{split}-00000-of-00001.parquet", {"train": "train", "test": "test"}),
            **_shards(
                n, "socratic/{split}-00000-of-00001.parquet", {"train": "train", "test": "test"}
            ),
        },
        {},
        ("main/train-00000-of-00001.parquet", "main/test-00000-of-00001.parquet"),
    ),
}


def publish(stub, names: tuple[str, ...] = tuple(LAYOUTS)) -> dict[str, str]:
    """Put the datasets' repos on a HubStub; return each dataset's commit sha at its ref."""
    shas = {}
    for name in names:
        layout = LAYOUTS[name]
        files = layout.files(name)
        if layout.revision == "main":
            shas[name] = stub.add("dataset", layout.repo_id, files)
        else:
            stub.add("dataset", layout.repo_id, layout.main_only)
            shas[name] = stub.add("dataset", layout.repo_id, files, revision=layout.revision)
    return shas
