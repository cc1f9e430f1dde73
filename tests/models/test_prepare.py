"""The paper pair through the real hub code: prepare-models against the repos' file layouts,
then jobs that load from the recorded snapshot folders with the network blocked.

The stand-in hub (tests/hubstub.py) serves `meta-llama/Llama-3.1-8B-Instruct` and
`mistralai/Mistral-7B-Instruct-v0.3` laid out as on the hub (hub-readiness.md: sharded
safetensors with an index, tokenizer files, the chat template; Llama's `original/` folder and
Mistral's consolidated copy, which transformers never reads), with random 32-block models of
width 16 in place of the gated weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import network_attempts, network_blocked_env
from hubstub import HubStub

from telepathy.experiment.pairs import PAIRS
from telepathy.models.lms import tokenizer_dir

SKIPPED = {  # what a layout holds that prepare-models must not download
    "meta-llama/Llama-3.1-8B-Instruct": (
        "original/consolidated.00.pth",
        "original/params.json",
        "original/tokenizer.model",
    ),
    "mistralai/Mistral-7B-Instruct-v0.3": ("consolidated.safetensors",),
}


def _repo_files(family: str, tokenizer_folder: Path, out: Path, decoys) -> dict[str, Path]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    config = AutoConfig.for_model(
        family,
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=32,  # the registry's depth, so the layer checks hold
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, max_shard_size="2MB")  # sharded, with an index, as on the hub
    tokenizer.save_pretrained(out)
    for name in decoys:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"not for transformers: " + name.encode())
    (out / "README.md").write_text("---\nextra_gated_description: a licence\n---\n")
    return {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def paper_hub(model_cache, tmp_path_factory):
    stub = HubStub()
    shas = {}
    root = tmp_path_factory.mktemp("paper_repos")
    tokenizers = tokenizer_dir(PAIRS["tiny"].sender, model_cache)
    for role in ("sender", "receiver"):
        spec = getattr(PAIRS["paper"], role)
        files = _repo_files(spec.family, tokenizers, root / role, SKIPPED[spec.model_id])
        shas[role] = stub.add("model", spec.model_id, files)
    stub.start()
    yield stub, shas
    stub.stop()


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_prepare_models_fetches_the_paper_pair_and_jobs_load_it_offline(paper_hub, tmp_path):
    stub, shas = paper_hub
    manifest = tmp_path / "paper.json"
    proc = _run(
        ["-m", "telepathy", "prepare-models", "--pair", "paper", "--manifest", str(manifest)],
        network_blocked_env(tmp_path, HF_ENDPOINT=stub.url),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    models = json.loads(manifest.read_text())["models"]
    for role in ("sender", "receiver"):
        entry, spec = models[role], getattr(PAIRS["paper"], role)
        assert entry["revision"] == shas[role]  # main, resolved to its commit
        folder = Path(entry["local_path"])
        assert folder.is_dir() and folder.name == shas[role]
        assert (folder / "model.safetensors.index.json").is_file()
        fetched = {
            path.split("/resolve/", 1)[1].split("/", 1)[1]
            for path in stub.downloads()
            if f"/{spec.model_id}/resolve/" in path
        }
        assert not fetched & set(SKIPPED[spec.model_id])  # never the 16 GB copies
        assert {"config.json", "tokenizer.json", "model.safetensors.index.json"} <= fetched
    assert network_attempts(tmp_path) == []

    # On a cluster that reaches no hub at all: the copied cache is found offline, nothing is
    # downloaded, and the manifest records the same folders (slurm/README.md says to do this)
    again = tmp_path / "again.json"
    proc = _run(
        ["-m", "telepathy", "prepare-models", "--pair", "paper", "--manifest", str(again)],
        network_blocked_env(tmp_path, HF_HUB_OFFLINE="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {r: m["local_path"] for r, m in json.loads(again.read_text())["models"].items()} == {
        r: m["local_path"] for r, m in models.items()
    }

    # A job: the hub's offline flags, no hub at all (HF_ENDPOINT unset), the network blocked;
    # it loads both models from the folders the manifest records.
    code = (
        "import torch, json; from telepathy.models.pair import load_pair\n"
        f"pair = load_pair('paper', torch.device('cpu'), models={str(manifest)!r})\n"
        "print(json.dumps([pair.identity(), pair.sender.n_layers, pair.receiver.n_layers]))"
    )
    offline = network_blocked_env(tmp_path, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    job = _run(["-c", code], offline)
    assert job.returncode == 0, job.stderr[-3000:]
    identity, sender_layers, receiver_layers = json.loads(job.stdout.strip().splitlines()[-1])
    assert (sender_layers, receiver_layers) == (32, 32)
    assert identity["sender_revision"] == shas["sender"]
    assert identity["receiver_revision"] == shas["receiver"]
    assert network_attempts(tmp_path) == []

    # without a manifest (a command run by hand), the folders are found in HF_HOME, offline
    code_no_manifest = code.replace(f", models={str(manifest)!r}", "")
    job = _run(["-c", code_no_manifest], offline)
    assert job.returncode == 0, job.stderr[-3000:]
    assert json.loads(job.stdout.strip().splitlines()[-1])[0] == identity
    assert network_attempts(tmp_path) == []

    # a snapshot folder that is gone (a cache on a file system this node does not see) is
    # named with the fix, not retried against the hub
    models["receiver"]["local_path"] = str(tmp_path / "elsewhere")
    manifest.write_text(json.dumps({"pair": "paper", "models": models}))
    job = _run(["-c", code], network_blocked_env(tmp_path, HF_HUB_OFFLINE="1"))
    assert job.returncode != 0
    assert "that prepare-models recorded is gone" in job.stderr
    assert "a file system every node sees" in job.stderr


def test_the_plain_array_gguf_reader_reads_what_ggufs_own_reader_reads():
    """prepare-models reads GGUF files through a reader on a plain view of the mapping (3x
    faster on Gemma-3's vocabulary); every metadata field and tensor must come out the same,
    and gguf's own class must be back afterwards."""
    import gguf
    import numpy as np

    from telepathy.models.lms import package_dir
    from telepathy.models.prepare import SMOLLM2_GGUF, _fast_gguf_reader

    path = package_dir(PAIRS["small"].receiver) / SMOLLM2_GGUF
    stock = gguf.GGUFReader(path)
    with _fast_gguf_reader():
        assert gguf.GGUFReader is not type(stock)
        fast = gguf.GGUFReader(path)
    assert gguf.GGUFReader is type(stock)
    assert not isinstance(fast.data, np.memmap)

    assert list(fast.fields) == list(stock.fields)
    for name, field in stock.fields.items():
        other = fast.fields[name]
        assert (other.offset, other.data, other.types) == (field.offset, field.data, field.types)
        assert len(other.parts) == len(field.parts)
        assert all(np.array_equal(a, b) for a, b in zip(other.parts, field.parts, strict=True))
    assert [t.name for t in fast.tensors] == [t.name for t in stock.tensors]
    for tensor, other in zip(stock.tensors, fast.tensors, strict=True):
        assert other.tensor_type == tensor.tensor_type
        assert np.array_equal(other.data, tensor.data)


def test_prepared_tokenizers_start_texts_with_bos_exactly_when_their_gguf_file_says(
    tiny_pair, small_cache
):
    """transformers 4.56 gave SmolLM2's converted tokenizer a BOS its file does not ask for, so
    every prompt on the floors had one more token; prepare-models holds each to its file."""
    import gguf
    from transformers import AutoTokenizer

    from telepathy.experiment.pairs import GEMMA3, SMOLLM2
    from telepathy.models.lms import converted_dir
    from telepathy.models.prepare import _fast_gguf_reader, locate_gguf, starts_with_bos

    for spec in (SMOLLM2, GEMMA3):
        path, _ = locate_gguf(spec, small_cache)
        with _fast_gguf_reader():
            field = gguf.GGUFReader(path).fields["tokenizer.ggml.add_bos_token"]
        assert bool(field.parts[field.data[0]][0]) is spec.adds_bos, spec.key
        prepared = AutoTokenizer.from_pretrained(converted_dir(spec, small_cache))
        assert starts_with_bos(prepared) is spec.adds_bos, spec.key
    # the tiny pair borrows SmolLM2's tokenizer, prepared from the GGUF file on its own
    assert not starts_with_bos(tiny_pair.receiver.tokenizer)
