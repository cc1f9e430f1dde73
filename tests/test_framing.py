"""One framing object for train and eval: identical prefixes, EOS targets, token truncation."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_config

from telepathy.data import Example, get_dataset
from telepathy.experiment.config import resolve_run_config
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


# The faithful presets cut the text in characters first, as the original code did
# (fidelity-vs-original.md §4 rows 1-2); `corrected` keeps one rule, in tokens.
CHARACTER_CUTS = [  # protocol, dataset, train/quick-eval cut, final-eval cut
    ("dec2025", "agnews", 256, 500),  # train_telepathy_agnews.py :242 / :181 / :496
    ("dec2025", "sst2", None, None),  # Era B SST-2 and TREC cut the prompt in tokens only
    ("dec2025", "trec", None, None),
    ("camera_ready", "sst2", 128, 128),  # run_complete_evaluation.py :879-881, :951-953
    ("camera_ready", "agnews", 256, 256),
    ("camera_ready", "trec", 128, 128),
    ("corrected", "agnews", None, None),
    ("corrected", "sst2", None, None),
]


@pytest.mark.parametrize(("protocol", "dataset", "train", "final"), CHARACTER_CUTS)
def test_the_faithful_presets_cut_characters_as_the_original(protocol, dataset, train, final):
    cfg = resolve_run_config(protocol=protocol, pair="paper", dataset=dataset, seed=42)
    assert (cfg.char_limit("train"), cfg.char_limit("eval")) == (train, final)


def test_a_character_cut_applies_before_the_token_rule_per_stage(tiny_pair):
    cfg = resolve_run_config(
        protocol="dec2025", pair="tiny", dataset="synth_topic", seed=1,
        overrides={"sender_max_tokens": 4096},
    )  # fmt: skip
    assert (cfg.truncate_chars, cfg.eval_truncate_chars) == (256, 500)
    spec = get_dataset("synth_topic")
    tok_s, tok_r = tiny_pair.sender.tokenizer, tiny_pair.receiver.tokenizer
    article = "".join(f"{i:04d} " for i in range(200))  # 1,000 characters
    example = Example("x/1", {"text": article}, "world")
    train = Framing(cfg, spec, tok_s, tok_r, stage="train")
    final = Framing(cfg, spec, tok_s, tok_r, stage="eval")
    assert train.sender_text(example) == cfg.sender_template.format(text=article[:256])
    assert final.sender_text(example) == cfg.sender_template.format(text=article[:500])
    assert train.for_stage("eval").sender_text(example) == final.sender_text(example)
    assert (
        "its first 500 characters, then to 4096 sender tokens"
        in final.describe()["sender_truncation"]
    )
    # the prompting baselines read the text with the bridge's final-eval cut
    from telepathy.baselines.prompting_config import resolve_prompting_config

    prompting = resolve_prompting_config(
        method="zero_shot_receiver", protocol="dec2025", pair="tiny", dataset="synth_topic",
        seed=1,
    )  # fmt: skip
    assert prompting.input_max_chars == 500


def test_corrected_keeps_its_digests_with_the_new_settings():
    """truncate_chars and eval_truncate_chars are later settings: at None they stay out of the
    digest, so no corrected run reruns; the faithful presets' new cuts do change theirs."""
    from telepathy.results.provenance import config_digest

    cfg = resolve_run_config(protocol="corrected", pair="paper", dataset="agnews", seed=42)
    legacy = {
        k: v
        for k, v in cfg.to_dict().items()
        if k not in ("bridge_architecture", "truncate_chars", "eval_truncate_chars")
    }
    assert cfg.digest() == config_digest(legacy)
