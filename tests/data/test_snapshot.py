"""Data snapshots: prepare-data against the hub's real layouts, offline jobs, bad snapshots.

The hub is a loopback stand-in (tests/hubstub.py) serving the eight datasets' repos as they are
laid out on the hub (tests/hub_layouts.py); `telepathy prepare-data` runs as users run it, with
HF_ENDPOINT pointing there, so the real `huggingface_hub` client does every request. Jobs then
run with the hub's offline flags, an empty HF_HOME and the network blocked at the socket level
(tests/netguard), which is how a GPU node without a route out sees the world.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fixture_files, network_attempts, network_blocked_env
from hub_layouts import LAYOUTS, PARQUET, parquet_bytes, publish, rows
from hubstub import HubStub

from telepathy.data import SnapshotError, get_dataset, load_examples, open_snapshot
from telepathy.data.snapshot import MANIFEST_NAME, rebuild_command

LABELS = {
    "sst2": ["negative", "positive"],
    "agnews": ["World", "Sports", "Business", "Sci/Tech"],
    "trec": ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"],
    "piqa": ["0", "1"],
}


@pytest.fixture(scope="module")
def hub():
    stub = HubStub()
    shas = publish(stub)
    stub.start()
    yield stub, shas
    stub.stop()


def telepathy(*args: str, env: dict[str, str], timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "telepathy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def prepare(hub_url: str, tmp_path: Path, name: str, *extra: str):
    out = tmp_path / "data" / name
    proc = telepathy(
        "prepare-data",
        "--dataset",
        name,
        "--snapshot",
        str(out / MANIFEST_NAME),
        *extra,
        env=network_blocked_env(tmp_path, HF_ENDPOINT=hub_url),
    )
    return proc, out


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_prepare_data_snapshots_each_dataset_from_its_real_hub_layout(hub, tmp_path, name):
    stub, shas = hub
    layout = LAYOUTS[name]
    before = len(stub.downloads())
    proc, out = prepare(stub.url, tmp_path, name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    source = manifest["source"]
    assert (source["kind"], source["repo_id"], source["revision"]) == (
        "hub",
        layout.repo_id,
        layout.revision,
    )
    assert source["revision_sha"] == shas[name]  # the ref, resolved to its commit
    served = stub.repos["dataset", layout.repo_id].commits[shas[name]]
    spec = get_dataset(name)
    listed = []
    for split in ("train", "eval"):
        entry = manifest["splits"][split]
        assert entry["name"] == spec.hub.split_name(split)
        fixture_rows = rows(name, entry["name"])
        assert entry["rows"] == len(fixture_rows)
        assert sorted(entry["columns"]) == sorted(fixture_rows[0])
        for item in entry["files"]:
            repo_path = item["path"].removeprefix("files/")
            listed.append(repo_path)
            data = (out / item["path"]).read_bytes()
            assert data == served[repo_path]
            assert item["sha256"] == hashlib.sha256(data).hexdigest()
            assert (item["bytes"], item["rows"]) == (len(data), entry["rows"])
    assert sorted(listed) == sorted(layout.needed)
    assert manifest["label_names"] == LABELS.get(name, manifest["label_names"])
    if name == "banking77":
        assert len(manifest["label_names"]) == 77
        assert manifest["label_names"][51] == "Refund_not_showing_up"
    if name in ("boolq", "commonsenseqa", "gsm8k"):
        assert manifest["label_names"] is None
    # only the two split files: no loading script, other splits, configs or the card
    fetched = stub.downloads()[before:]
    assert sorted(p.split("/resolve/", 1)[1].split("/", 1)[1] for p in fetched) == sorted(
        layout.needed
    )
    assert network_attempts(tmp_path) == []  # nothing but the loopback stand-in was asked
    # a job reads exactly what the fixtures hold, through the snapshot
    snapshot = open_snapshot(out / MANIFEST_NAME, name)
    for split in ("train", "eval"):
        examples = load_examples(spec, split, snapshot=snapshot)
        assert [(e.uid, e.label, dict(e.fields)) for e in examples] == [
            (e.uid, e.label, dict(e.fields))
            for e in _fixture_examples(tmp_path / "fixture", name, split)
        ]
    assert snapshot.provenance()["revision_sha"] == shas[name]


def _fixture_examples(folder: Path, name: str, split: str):
    from telepathy.data import write_snapshot

    if not (folder / MANIFEST_NAME).exists():
        write_snapshot(get_dataset(name), folder, local=fixture_files(name))
    return load_examples(get_dataset(name), split, snapshot=open_snapshot(folder, name))


def test_prepare_data_pins_a_revision_and_names_what_is_wrong(hub, tmp_path):
    stub, shas = hub
    proc, out = prepare(stub.url, tmp_path, "trec", "--revision", shas["trec"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / MANIFEST_NAME).read_text())["source"]["revision_sha"] == shas["trec"]
    # `main` of a script dataset holds only its script: the error lists what is there
    proc, _ = prepare(stub.url, tmp_path, "banking77", "--revision", "main")
    assert proc.returncode == 1
    assert "no file matching 'default/train/*.parquet'" in proc.stderr
    assert "banking77.py" in proc.stderr
    # no hub at all: the error says where to run prepare-data instead
    proc, _ = prepare("http://127.0.0.1:9", tmp_path, "sst2")
    assert proc.returncode == 1
    assert "could not read nyu-mll/glue@main" in proc.stderr and "login node" in proc.stderr
    assert not (tmp_path / "data" / "sst2" / MANIFEST_NAME).exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trec", "banking77", "piqa"])
def test_offline_training_reads_a_parquet_export_snapshot(hub, tmp_path, name):
    """The first-contact bug (hub-readiness.md F1): offline, `datasets` could not find its own
    cache of these three; from the snapshot the job runs with no network at all."""
    stub, _ = hub
    proc, out = prepare(stub.url, tmp_path, name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shutil.rmtree(tmp_path / "hf_home", ignore_errors=True)  # nothing cached for the job
    run = tmp_path / "run"
    proc = telepathy(
        "train", "--protocol", "corrected", "--pair", "tiny", "--dataset", name,
        "--seed", "1", "--set", "steps=1", "--set", "batch_size=2", "--set", "grad_accum=1",
        "--set", "eval_every=0", "--set", "eval_first_n=2",
        "--data", str(out), "--bridge", str(run / "bridge.pt"),
        "--checkpoint", str(run / "state.pt"), "--metrics", str(run / "metrics.jsonl"),
        "--result", str(run / "train.json"), "--no-progress",
        env=network_blocked_env(tmp_path, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert network_attempts(tmp_path) == []
    record = json.loads((run / "train.json").read_text())
    data = record["provenance"]["data"]
    assert (data["repo_id"], data["revision"]) == (LAYOUTS[name].repo_id, PARQUET)
    assert (
        data["revision_sha"]
        == json.loads((out / MANIFEST_NAME).read_text())["source"]["revision_sha"]
    )


# ---------------------------------------------------------------------------------- bad input


@pytest.fixture
def trec_snapshot(hub, tmp_path):
    stub, _ = hub
    proc, out = prepare(stub.url, tmp_path, "trec")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _rewrite(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _expect(snapshot: Path, match: str, split: str = "eval") -> str:
    with pytest.raises(SnapshotError) as info:
        load_examples(get_dataset("trec"), split, snapshot=open_snapshot(snapshot, "trec"))
    message = str(info.value)
    assert match in message, message
    assert f"`{rebuild_command('trec', snapshot)}`" in message  # how to rebuild it
    return message


def test_a_missing_snapshot_file_is_named(trec_snapshot):
    victim = trec_snapshot / "files/default/test/0000.parquet"
    victim.unlink()
    _expect(trec_snapshot, f"file {victim} is missing")


def test_a_changed_file_fails_its_sha256(trec_snapshot):
    victim = trec_snapshot / "files/default/test/0000.parquet"
    # the same rows, labels and columns, written differently: only the digest can tell
    _rewrite(victim, parquet_bytes("trec", rows("trec", "test"), compression="gzip"))
    message = _expect(trec_snapshot, f"file {victim} has sha256 ")
    assert "the manifest says" in message


def test_a_swapped_label_order_is_refused(trec_snapshot):
    from datasets import ClassLabel, Features, Value

    victim = trec_snapshot / "files/default/test/0000.parquet"
    swapped = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]  # the consolidated script's order
    features = Features(
        {"text": Value("string"), "coarse_label": ClassLabel(names=swapped),
         "fine_label": ClassLabel(num_classes=50)}
    )  # fmt: skip
    _rewrite(victim, parquet_bytes("trec", rows("trec", "test"), features=features))
    _expect(trec_snapshot, f"file {victim} orders the 'coarse_label' labels as ['ABBR', 'DESC'")
    # and a manifest edited to the swapped order fails on opening, before any file is read
    manifest = json.loads((trec_snapshot / MANIFEST_NAME).read_text())
    manifest["label_names"] = swapped
    (trec_snapshot / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match=r"silently remapped.*rebuild it with"):
        open_snapshot(trec_snapshot, "trec")


def test_a_file_with_fewer_rows_is_refused(trec_snapshot):
    victim = trec_snapshot / "files/default/train/0000.parquet"
    _rewrite(victim, parquet_bytes("trec", rows("trec", "train")[:-1]))
    _expect(trec_snapshot, f"file {victim} has 7 rows, the manifest says 8", split="train")


def test_a_snapshot_that_was_never_written_or_belongs_elsewhere(trec_snapshot, tmp_path):
    with pytest.raises(SnapshotError, match=r"no snapshot.json.*prepare-data --dataset sst2"):
        open_snapshot(tmp_path / "nowhere", "sst2")
    with pytest.raises(SnapshotError, match=r"holds dataset 'trec', not 'sst2'"):
        open_snapshot(trec_snapshot, "sst2")
