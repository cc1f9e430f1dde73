"""The real small pair from its safetensors cache: load times, tokenizers, scale, one step.

Skipped unless `telepathy prepare-models --pair small` has run (the README test command does).
"""

from __future__ import annotations

import time

import pytest
import torch

from telepathy.data import Example, get_dataset
from telepathy.experiment.config import resolve_run_config
from telepathy.framing import Framing
from telepathy.models.lms import load_lm
from telepathy.models.pair import (
    build_bridge,
    decoder_stack,
    embedding_median_rms,
    load_pair,
    sender_states,
)


@pytest.fixture(scope="module")
def small_pair(small_cache):
    started = time.perf_counter()
    pair = load_pair("small", torch.device("cpu"), small_cache)
    print(f"small pair loaded from the safetensors cache in {time.perf_counter() - started:.2f} s")
    return pair


@pytest.mark.slow
@pytest.mark.timing
def test_cached_small_pair_loads_fast_and_frozen(small_pair, small_cache):
    # GGUF dequantisation takes 20-60 s per model; the cache must make that a one-time cost.
    # Timed on a second load: the first also pays transformers' lazy imports of each family.
    receiver = load_lm(small_pair.spec.receiver, device=torch.device("cpu"), cache_root=small_cache)
    sender = load_lm(small_pair.spec.sender, device=torch.device("cpu"), cache_root=small_cache)
    print(
        f"cached loads: receiver {receiver.load_seconds:.2f} s, sender {sender.load_seconds:.2f} s"
    )
    assert receiver.load_seconds < 5
    assert sender.load_seconds < 15  # Gemma's 262k-entry tokenizer alone takes ~3.5 s
    assert small_pair.sender.model.config.model_type == "gemma3_text"
    assert small_pair.receiver.model.config.model_type == "llama"
    assert (small_pair.sender.n_layers, small_pair.sender.hidden_size) == (18, 640)
    assert (small_pair.receiver.n_layers, small_pair.receiver.hidden_size) == (30, 576)
    for lm in (small_pair.sender, small_pair.receiver):
        assert not any(p.requires_grad for p in lm.model.parameters())


def test_gemma_scale_is_measured_after_its_sqrt_d_multiplier(small_pair):
    weight = small_pair.sender.model.get_input_embeddings().weight.float()
    raw = float(weight.pow(2).mean(-1).sqrt().median())
    module = embedding_median_rms(small_pair.sender)  # Gemma as if it were a receiver
    assert module == pytest.approx(raw * 640**0.5, rel=1e-3)  # ~0.041 -> ~1.03


def test_sender_and_receiver_use_their_own_tokenizers(small_pair):
    cfg = resolve_run_config(protocol="corrected", pair="small", dataset="synth_sentiment", seed=0)
    framing = Framing(
        cfg,
        get_dataset("synth_sentiment"),
        small_pair.sender.tokenizer,
        small_pair.receiver.tokenizer,
    )
    batch = framing.sender_batch(
        [Example("a", {"text": "A wonderful film."}, "positive")], torch.device("cpu")
    )
    assert batch.input_ids[0, 0] == small_pair.sender.tokenizer.bos_token_id  # Gemma adds <bos>
    receiver_tok = small_pair.receiver.tokenizer
    assert framing.primer_ids == receiver_tok("Sentiment:", add_special_tokens=False).input_ids
    assert framing.answer_batch(["positive"], torch.device("cpu")).input_ids[0, -1] == (
        receiver_tok.eos_token_id
    )


def test_one_training_step_moves_only_the_bridge(small_pair):
    cfg = resolve_run_config(
        protocol="corrected",
        pair="small",
        dataset="synth_sentiment",
        seed=0,
        overrides={"batch_size": 2},
    )
    framing = Framing(
        cfg,
        get_dataset("synth_sentiment"),
        small_pair.sender.tokenizer,
        small_pair.receiver.tokenizer,
    )
    examples = [
        Example("a", {"text": "A wonderful film."}, "positive"),
        Example("b", {"text": "A dreadful film."}, "negative"),
    ]
    sender_in = framing.sender_batch(examples, torch.device("cpu"))
    states = sender_states(
        small_pair.sender, sender_in.input_ids, sender_in.attention_mask, cfg.source_layer
    )
    assert states.shape[-1] == 640
    bridge = build_bridge(cfg, small_pair, embedding_median_rms(small_pair.receiver))
    soft = bridge(states, sender_in.attention_mask).soft_tokens
    assert soft.shape == (2, cfg.soft_tokens, 576)
    embed = small_pair.receiver.model.get_input_embeddings()
    answers = framing.answer_batch(["positive", "negative"], torch.device("cpu"))
    embeds, mask = framing.training_inputs(soft, answers, embed)
    n = answers.input_ids.shape[1]
    logits = small_pair.receiver.model(
        inputs_embeds=embeds, attention_mask=mask, logits_to_keep=n + 1
    ).logits[:, :n]
    torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), answers.input_ids.reshape(-1)
    ).backward()
    assert all(p.grad is None for p in small_pair.receiver.model.parameters())
    assert bridge.latents.grad is not None and bridge.latents.grad.abs().sum() > 0


def _every_source_layer_is_the_full_forward_s(pair) -> None:
    """sender_states runs only the blocks up to the source layer; what it returns must be the
    very tensor the full forward's hidden_states holds at that index, for every index."""
    sender = pair.sender
    assert hasattr(decoder_stack(sender.model), "layers")  # else the full forward runs
    torch.manual_seed(0)
    ids = torch.randint(5, 1000, (3, 17))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # a left-padded row, as the sender batches are
    with torch.no_grad():
        full = decoder_stack(sender.model)(
            input_ids=ids, attention_mask=mask, output_hidden_states=True
        )
    assert len(full.hidden_states) == sender.n_layers + 1
    for layer, expected in enumerate(full.hidden_states):
        assert torch.equal(sender_states(sender, ids, mask, layer), expected), layer


def test_sender_states_stop_at_the_source_layer_and_equal_the_full_forward_tiny(tiny_pair):
    _every_source_layer_is_the_full_forward_s(tiny_pair)


def test_sender_states_stop_at_the_source_layer_and_equal_the_full_forward_small(small_pair):
    _every_source_layer_is_the_full_forward_s(small_pair)


def test_blocks_above_the_source_layer_never_run(small_pair):
    ran = []
    blocks = decoder_stack(small_pair.sender.model).layers
    handles = [
        b.register_forward_hook(lambda m, a, o, i=i: ran.append(i)) for i, b in enumerate(blocks)
    ]
    try:
        ids = torch.randint(5, 1000, (1, 9))
        sender_states(small_pair.sender, ids, torch.ones_like(ids), 9)
    finally:
        for handle in handles:
            handle.remove()
    assert ran == list(range(9))  # blocks 0-8 give hidden_states[9]; 9-17 are skipped
