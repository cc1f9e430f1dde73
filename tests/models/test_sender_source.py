"""The frozen sender's states from a cache instead of the sender: the same training and the
same evaluation, with the sender never loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from telepathy.cli import main
from telepathy.data import get_dataset, load_examples
from telepathy.experiment.sender_states import cache_digest
from telepathy.framing import Framing
from telepathy.models.pair import load_pair
from telepathy.models.sender_source import LiveSender, build_sender_cache, open_cached_sender
from telepathy.results.sender_cache import SenderCacheError

RUN = ["--protocol", "corrected", "--pair", "tiny", "--dataset", "synth_sentiment", "--seed", "7",
       "--set", "steps=12", "--set", "batch_size=4", "--set", "grad_accum=1",
       "--set", "eval_every=6", "--set", "train_size=48", "--set", "eval_first_n=24",
       "--set", "lr=1e-3", "--no-progress"]  # fmt: skip


def _run(*argv: str, cache_dir: Path) -> None:
    assert main([*argv, "--cache-dir", str(cache_dir)]) == 0, argv


@pytest.mark.slow
def test_training_and_eval_from_the_cache_equal_the_live_sender_s(tmp_path, model_cache):
    """On CPU in fp32 the tiny pair's cached states are the live ones bit for bit (causal
    attention with right padding: a row's real tokens never see another row's padding)."""
    c, live, cached = tmp_path / "cache", tmp_path / "live", tmp_path / "cached"
    for split, stage in (("train", "train"), ("eval", "train"), ("eval", "eval")):
        out = c / f"{split}-{stage}.safetensors"
        _run("cache-sender-states", *RUN, "--split", split, "--stage", stage,
             "--output", str(out), cache_dir=model_cache)  # fmt: skip
    for folder, caches in (
        (live, []),
        (cached, ["--sender-cache", f"train={c}/train-train.safetensors",
                  "--sender-cache", f"eval={c}/eval-train.safetensors"]),
    ):  # fmt: skip
        _run("train", *RUN, *caches, "--bridge", str(folder / "bridge.pt"),
             "--checkpoint", str(folder / "state.pt"), "--metrics", str(folder / "m.jsonl"),
             "--result", str(folder / "train.json"), cache_dir=model_cache)  # fmt: skip
    weights = [torch.load(f / "bridge.pt", weights_only=False) for f in (live, cached)]
    assert weights[0]["bridge"].keys() == weights[1]["bridge"].keys()
    for name, tensor in weights[0]["bridge"].items():
        assert torch.equal(tensor, weights[1]["bridge"][name]), name
    logs = [[json.loads(line) for line in (f / "m.jsonl").open()] for f in (live, cached)]
    assert [r["loss"] for r in logs[0]] == [r["loss"] for r in logs[1]]
    assert [r.get("quick_eval_accuracy") for r in logs[0]] == [
        r.get("quick_eval_accuracy") for r in logs[1]
    ]
    records = [json.loads((f / "train.json").read_text()) for f in (live, cached)]
    assert records[0]["pair"] == records[1]["pair"]  # the sender's revision from the cache
    assert records[0]["parameters"] == records[1]["parameters"]
    _run("eval", "--bridge", str(live / "bridge.pt"), "--result", str(live / "eval.json"),
         "--no-progress", cache_dir=model_cache)  # fmt: skip
    _run(
        "eval",
        "--bridge",
        str(cached / "bridge.pt"),
        "--result",
        str(cached / "eval.json"),
        "--sender-cache",
        f"{c}/eval-eval.safetensors",
        "--no-progress",
        cache_dir=model_cache,
    )  # fmt: skip  (a bare path, as the workflow passes it)
    evals = [json.loads((f / "eval.json").read_text()) for f in (live, cached)]
    assert [s["prediction"] for s in evals[0]["samples"]] == [
        s["prediction"] for s in evals[1]["samples"]
    ]
    assert evals[0]["metrics"]["accuracy"] == evals[1]["metrics"]["accuracy"]


def _eval_cache(path: Path, model_cache: Path, n: int):
    """The tiny pair's eval-split cache of the first `n` items at `path`, and what made it."""
    cfg = tiny_config(eval_first_n=n)
    pair = load_pair("tiny", torch.device("cpu"), model_cache)
    spec = get_dataset(cfg.dataset)
    examples = load_examples(spec, "eval", task_seed=cfg.task_seed)[:n]
    framing = Framing(cfg, spec, pair.sender.tokenizer, pair.receiver.tokenizer, stage="eval")
    build_sender_cache(path, pair.sender, framing, examples, split="eval", batch_size=3)
    return cfg, pair, framing, examples


def test_a_job_never_loads_the_sender_when_its_states_are_cached(tmp_path, model_cache, caplog):
    path = tmp_path / "eval.safetensors"
    cfg, pair, framing, examples = _eval_cache(path, model_cache, 8)
    cached = open_cached_sender(
        {"eval": path}, cfg, {"eval": examples}, stage="eval", device=torch.device("cpu")
    )
    assert cached.model is None and cached.tokenizer is None
    assert cached.hidden_size == pair.sender.hidden_size
    assert cached.revision == pair.sender.revision
    live = LiveSender(pair.sender, framing, torch.device("cpu"))
    a, b = live(examples[:5]), cached(examples[:5])
    assert torch.equal(a.attention_mask, b.attention_mask)
    assert torch.equal(a.input_ids * a.attention_mask, b.input_ids)
    real = a.attention_mask.bool()
    assert torch.equal(a.states[real], b.states[real])
    # another template is another cache: refused, naming the setting
    other = tiny_config(eval_first_n=8, sender_template="Text: {text}")
    with pytest.raises(SenderCacheError, match="sender_template"):
        open_cached_sender(
            {"eval": path}, other, {"eval": examples}, stage="eval", device=torch.device("cpu")
        )
    assert cache_digest(cfg, "eval", "eval") != cache_digest(other, "eval", "eval")


def test_a_bare_cache_path_names_its_split_from_the_file(tmp_path, model_cache):
    """The workflow passes its input files as they are (`--sender-cache FILE`, nothing when the
    grid has no cache); the split comes from the file's own record."""
    import argparse

    from telepathy.cli.args import add_sender_cache, sender_caches

    path = tmp_path / "states.safetensors"
    _eval_cache(path, model_cache, 4)
    parser = argparse.ArgumentParser()
    add_sender_cache(parser, "eval")
    assert sender_caches(parser.parse_args(["--sender-cache", str(path)]), ("eval",)) == {
        "eval": path
    }
    assert sender_caches(parser.parse_args(["--sender-cache"]), ("eval",)) is None
    with pytest.raises(ValueError, match="a cache of the 'eval' split"):
        sender_caches(parser.parse_args(["--sender-cache", str(path)]), ("train",))
