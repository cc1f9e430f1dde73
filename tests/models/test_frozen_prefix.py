"""The primer's keys and values computed once: the same loss and gradients as the full sequence."""

from __future__ import annotations

import pytest
import torch
from test_framing import make_framing

from telepathy.losses import answer_lm_loss, soft_token_answer_loss
from telepathy.models.frozen_prefix import forward_after_prefix


def _full_sequence_loss(model, framing, soft, labels, embed) -> torch.Tensor:
    """The loss as it was before the prefix cache: the whole [primer ++ soft ++ answer]."""
    answers = framing.answer_batch(labels, soft.device)
    embeds, mask = framing.training_inputs(soft, answers, embed)
    n_answer = answers.input_ids.shape[1]
    logits = model(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=n_answer + 1).logits
    return answer_lm_loss(logits[:, :n_answer], answers.input_ids, answers.mask)


def _loss_and_grad(loss_fn, model, framing, soft, labels, embed):
    soft = soft.clone().requires_grad_(True)
    loss = loss_fn(model, framing, soft, labels, embed)
    loss.backward()
    return loss.detach(), soft.grad


def _gemma3_receiver(tiny_pair):
    """A random Gemma-3 (sliding-window and global layers) with the tiny receiver's width and
    vocabulary, its window shorter than the sequence: the cache of a sliding layer must still
    give each position the keys it sees in the full sequence."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    receiver = tiny_pair.receiver
    config = Gemma3TextConfig(
        vocab_size=receiver.model.config.vocab_size,
        hidden_size=receiver.hidden_size,
        intermediate_size=2 * receiver.hidden_size,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention"] * 2,
    )
    torch.manual_seed(0)
    return Gemma3ForCausalLM(config).eval().requires_grad_(False)


@pytest.mark.parametrize("receiver", ["tiny", "gemma3"])
def test_the_cached_primer_gives_the_full_sequences_loss_and_gradients(tiny_pair, receiver):
    framing = make_framing(tiny_pair)
    model = tiny_pair.receiver.model if receiver == "tiny" else _gemma3_receiver(tiny_pair)
    embed = model.get_input_embeddings()
    assert len(framing.primer_ids) >= 2  # "Sentiment:": a prefix to cache
    torch.manual_seed(1)
    # answers of different lengths, so one row is right-padded past the primer
    framing.answer_word = lambda label: label  # type: ignore[method-assign]
    labels = ["positive", "a much longer answer", "negative"]
    soft = torch.randn(3, framing.cfg.soft_tokens, embed.weight.shape[1])

    full_loss, full_grad = _loss_and_grad(_full_sequence_loss, model, framing, soft, labels, embed)
    for _ in range(2):  # the second step reads the cache the first one built
        loss, grad = _loss_and_grad(soft_token_answer_loss, model, framing, soft, labels, embed)
        torch.testing.assert_close(loss, full_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, full_grad, rtol=1e-4, atol=1e-7)
    assert grad.abs().max() > 0


def test_the_prefix_cache_refuses_a_model_that_trains(tiny_pair):
    model = tiny_pair.receiver.model
    embed = model.get_input_embeddings()
    weight = next(model.parameters())
    embeds = torch.zeros(1, 2, embed.weight.shape[1])
    weight.requires_grad_(True)
    try:
        with pytest.raises(ValueError, match="frozen model"):
            forward_after_prefix(model, [5, 6, 7], embeds, torch.ones(1, 5))
    finally:
        weight.requires_grad_(False)
