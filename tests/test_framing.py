"""One framing object for train and eval: identical prefixes, EOS targets, token truncation."""

from __future__ import annotations

import torch
from conftest import tiny_config

from telepathy.data import Example, get_dataset
from telepathy.framing import Framing


def make_framing(tiny_pair, **overrides) -> Framing:
    cfg = tiny_config(**overrides)
    tok_s, tok_r = tiny_pair.sender.tokenizer, tiny_pair.receiver.tokenizer
    return Framing(cfg, get_dataset(cfg.dataset), tok_s, tok_r)


def test_train_and_eval_receiver_prefixes_are_byte_identical(tiny_pair):
    framing = make_framing(tiny_pair)
    embed = tiny_pair.receiver.model.get_input_embeddings()
    soft = torch.randn(3, framing.cfg.soft_tokens, tiny_pair.receiver.hidden_size)
    answers = framing.answer_batch(["positive", "negative", "positive"], torch.device("cpu"))
    train_embeds, train_mask = framing.training_inputs(soft, answers, embed)
    eval_prefix = framing.receiver_prefix(soft, embed)
    n_prefix = eval_prefix.shape[1]
    assert n_prefix == len(framing.primer_ids) + framing.cfg.soft_tokens
    # bitwise, not approximately: the same bytes reach the receiver in training and generation
    assert train_embeds[:, :n_prefix].numpy().tobytes() == eval_prefix.numpy().tobytes()
    assert train_mask[:, :n_prefix].all()


def test_receiver_sequence_has_no_bos_and_starts_with_the_primer(tiny_pair):
    framing = make_framing(tiny_pair)
    tok = tiny_pair.receiver.tokenizer
    assert framing.primer_ids == tok("Sentiment:", add_special_tokens=False).input_ids
    assert tok.bos_token_id not in framing.primer_ids[:1]
    assert tok.decode(framing.primer_ids) == framing.cfg.primer


def test_every_target_ends_with_eos_and_padding_is_masked(tiny_pair):
    framing = make_framing(tiny_pair)
    tok = tiny_pair.receiver.tokenizer
    # labels of different token lengths so one row is padded
    framing.answer_word = lambda label: label  # type: ignore[method-assign]
    batch = framing.answer_batch(["positive", "a much longer answer here"], torch.device("cpu"))
    for ids, mask in zip(batch.input_ids, batch.mask, strict=True):
        n = int(mask.sum())
        assert ids[n - 1] == tok.eos_token_id  # EOS is a real, unmasked target
        assert (mask[n:] == 0).all()  # right padding never trained on
    assert batch.mask[0].sum() < batch.mask[1].sum()


def test_answer_format_follows_the_leading_space_rule(tiny_pair):
    assert make_framing(tiny_pair).answer_text("positive") == " positive"
    no_space = make_framing(tiny_pair, answer_leading_space=False)
    assert no_space.answer_text("negative") == "negative"


def test_sender_truncation_is_in_tokens_and_keeps_the_template(tiny_pair):
    framing = make_framing(tiny_pair, sender_max_tokens=5)
    long_text = " ".join(["wonderful"] * 50)
    text = framing.sender_text(Example("x/1", {"text": long_text}, "positive"))
    assert text.endswith("Sentiment (positive or negative):")  # the question survives
    content = text.removeprefix("Review: ").split("\n")[0]
    assert len(tiny_pair.sender.tokenizer(content, add_special_tokens=False).input_ids) == 5


def test_sender_batch_is_right_padded_with_a_mask(tiny_pair):
    framing = make_framing(tiny_pair)
    batch = framing.sender_batch(
        [
            Example("a", {"text": "good"}, "positive"),
            Example("b", {"text": "a far longer review of a film"}, "positive"),
        ],
        torch.device("cpu"),
    )
    assert batch.attention_mask[0, -1] == 0 and batch.attention_mask[1, -1] == 1
    assert batch.attention_mask[0, 0] == 1
