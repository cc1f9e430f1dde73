"""Trained baselines and controls (telepathy/baselines) on the tiny pair.

Each test names the wrong implementation it would catch: a control that reads the input, a
baseline that touches the sender, LoRA that moves base weights or trains more than rank-8
adapters, a probe fitted on eval items, noise at the wrong scale, records that do not pair
with the bridge's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

import telepathy.models.pair as runtime_module
from telepathy import cli
from telepathy.baselines import probe as probe_module
from telepathy.baselines.lora import LoraSettings, lora_schedule, train_lora
from telepathy.baselines.noise import evaluate_noise, noise_soft_tokens
from telepathy.baselines.prompt_tuning import (
    evaluate_prompt_tuning,
    generate_batch_fn,
    train_prompt_tuning,
)
from telepathy.baselines.receiver_inputs import IGNORE, prompt_text, receiver_batch
from telepathy.data import Example, get_dataset, load_examples
from telepathy.evaluate import generate_from_embeds
from telepathy.experiment.pairs import get_pair
from telepathy.framing import Framing
from telepathy.models.lms import load_lm
from telepathy.models.pair import LoadedPair, embedding_median_rms
from telepathy.results.checkpoint import CheckpointError, load_checkpoint
from telepathy.results.provenance import ids_digest
from telepathy.results.validate import validate_file, validate_result
from telepathy.train import Schedule, TrainingInterrupted

SAMPLE_KEYS = {"id", "gold", "prediction", "raw", "correct", "correct_lenient"}


def receiver_only(pair: LoadedPair) -> LoadedPair:
    """The tiny pair as the baseline commands load it: no sender at all."""
    return LoadedPair(pair.spec, None, pair.receiver, pair.device)


def fresh_receiver(model_cache: Path):
    """A tiny receiver of its own (LoRA injects adapters in place); same weights as the pair's."""
    spec = get_pair("tiny").receiver
    return load_lm(spec, device=torch.device("cpu"), cache_root=model_cache, pair_name="tiny")


def prepare_run(pair: LoadedPair, **overrides):
    cfg = tiny_config(**overrides)
    spec = get_dataset(cfg.dataset)
    sender_tok = pair.sender.tokenizer if pair.sender else None
    receiver_tok = pair.receiver.tokenizer if pair.receiver else None
    framing = Framing(cfg, spec, sender_tok, receiver_tok)
    train = load_examples(spec, "train", n_generated=cfg.train_size, task_seed=cfg.task_seed)
    evaluation = load_examples(spec, "eval", task_seed=cfg.task_seed)
    return cfg, framing, train, evaluation


def train_pt(method, pair, cfg, framing, train, stem: Path, **kwargs):
    return train_prompt_tuning(
        method,
        cfg,
        pair,
        framing,
        train,
        [],
        checkpoint_path=stem.with_suffix(".ckpt"),
        metrics_path=stem.with_suffix(".jsonl"),
        progress=False,
        **kwargs,
    )


# ----------------------------------------------------------------------------- prompt tuning


def test_prompt_tuning_control_is_a_constant_predictor_and_the_text_variant_is_not(
    tiny_pair, tmp_path, monkeypatch
):
    pair = receiver_only(tiny_pair)
    cfg, framing, train, evaluation = prepare_run(pair, steps=3)
    items = evaluation[:24]
    control = train_pt("prompt_tuning_control", pair, cfg, framing, train, tmp_path / "c")
    report = evaluate_prompt_tuning("prompt_tuning_control", control.prompt, pair, framing, items)
    assert len({s["raw"] for s in report.samples}) == 1  # one output for every item
    # ... because its input never contains the item: replacing every text changes nothing.
    scrambled = [replace(e, fields={"text": "zzz qqq"}) for e in items]
    again = evaluate_prompt_tuning(
        "prompt_tuning_control", control.prompt, pair, framing, scrambled
    )
    assert [s["raw"] for s in again.samples] == [s["raw"] for s in report.samples]

    # The text variant's receiver inputs differ per item and contain the item's text.
    text = train_pt("prompt_tuning", pair, cfg, framing, train, tmp_path / "t")
    seen: list[torch.Tensor] = []

    def spy(model, framing_, embeds, mask):
        seen.append(embeds.clone())
        return generate_from_embeds(model, framing_, embeds, mask)

    monkeypatch.setattr("telepathy.baselines.prompt_tuning.generate_from_embeds", spy)
    with torch.inference_mode():
        generate_batch_fn("prompt_tuning", text.prompt, pair, framing)(items[:4])
        generate_batch_fn("prompt_tuning_control", control.prompt, pair, framing)(items[:4])
    with_text, without = seen
    assert not torch.equal(with_text[0], with_text[1])
    assert all(torch.equal(without[0], row) for row in without)


def test_prompt_tuning_uses_the_bridge_schedule_and_trains_only_k_vectors(tiny_pair, tmp_path):
    pair = receiver_only(tiny_pair)
    cfg, framing, train, _ = prepare_run(pair, steps=4, lr=2e-3, batch_size=3, grad_accum=2)
    before = {n: p.clone() for n, p in pair.receiver.model.named_parameters()}
    outcome = train_pt("prompt_tuning", pair, cfg, framing, train, tmp_path / "p")
    state = load_checkpoint(tmp_path / "p.ckpt")
    assert state["trainee"]["schedule"] == dataclasses.asdict(Schedule.of(cfg))
    assert (cfg.steps, cfg.lr, cfg.batch_size, cfg.grad_accum) == (4, 2e-3, 3, 2)
    logged = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4] and {r["lr"] for r in logged} == {2e-3}
    # K x d_receiver vectors + one output scale, nothing else
    assert set(state["soft_prompt"]) == {"latents", "output_scale"}
    assert outcome.prompt.latents.shape == (cfg.soft_tokens, pair.receiver.hidden_size)
    assert outcome.output_scale_init == pytest.approx(embedding_median_rms(pair.receiver))
    for name, param in pair.receiver.model.named_parameters():
        assert torch.equal(param, before[name]) and param.grad is None, name


def test_resume_refuses_another_variants_training_state(tiny_pair, tmp_path):
    pair = receiver_only(tiny_pair)
    cfg, framing, train, _ = prepare_run(pair, steps=2)
    train_pt("prompt_tuning_control", pair, cfg, framing, train, tmp_path / "x")
    with pytest.raises(CheckpointError, match="holds the training state of"):
        train_pt("prompt_tuning", pair, cfg, framing, train, tmp_path / "x")


# ----------------------------------------------------------------------------- receiver inputs


def test_text_batches_put_loss_where_each_method_wants_it(tiny_pair):
    cfg, framing, _, evaluation = prepare_run(receiver_only(tiny_pair))
    embed = tiny_pair.receiver.model.get_input_embeddings()
    tokenizer = tiny_pair.receiver.tokenizer
    items = evaluation[:3]
    soft = torch.randn(3, 2, tiny_pair.receiver.hidden_size)
    answer_only = receiver_batch(framing, items, embed, soft=soft, loss_on="answer")
    whole = receiver_batch(framing, items, embed, loss_on="prompt_and_answer")
    for i, example in enumerate(items):
        prompt = tokenizer(prompt_text(framing, example), add_special_tokens=False).input_ids
        answer = tokenizer(f" {example.label}", add_special_tokens=False).input_ids
        target = [*prompt, *answer, framing.eos_id]
        n = len(target)
        row = whole.labels[i]
        assert row[:n].tolist() == target and (row[n:] == IGNORE).all()  # right-padded
        assert whole.attention_mask[i].tolist() == [1] * n + [0] * (len(row) - n)
        row = answer_only.labels[i]
        assert (row[: 2 + len(prompt)] == IGNORE).all()  # soft vectors and prompt: no loss
        assert row[2 + len(prompt) : 2 + n].tolist() == [*answer, framing.eos_id]
        assert torch.equal(answer_only.embeds[i, :2], soft[i])  # soft vectors first
    filled = cfg.sender_template.format(text=items[0].fields["text"])  # the bridge's wording
    assert prompt_text(framing, items[0]) == f"{filled}\n{cfg.primer}"


def test_text_prompt_tuning_learns_answers_only_and_lora_the_whole_sequence(
    tiny_pair, model_cache, tmp_path, monkeypatch
):
    """Prompt tuning keeps the bridge's answer-only loss (§5.5); LoRA's original also trained
    on the prompt tokens (§5.7)."""
    seen: dict[str, list] = {"pt": [], "lora": []}

    def spy(key):
        def wrapped(framing, examples, embed, **kwargs):
            seen[key].append(kwargs.get("loss_on"))
            return receiver_batch(framing, examples, embed, **kwargs)

        return wrapped

    monkeypatch.setattr("telepathy.baselines.prompt_tuning.receiver_batch", spy("pt"))
    monkeypatch.setattr("telepathy.baselines.lora.receiver_batch", spy("lora"))
    pair = receiver_only(tiny_pair)
    cfg, framing, train, _ = prepare_run(pair, steps=1)
    train_pt("prompt_tuning", pair, cfg, framing, train, tmp_path / "p")
    lora_pair = LoadedPair(tiny_pair.spec, None, fresh_receiver(model_cache), pair.device)
    train_lora(
        cfg,
        lora_pair,
        framing,
        train,
        [],
        settings=LoraSettings(),
        schedule_name="bridge",
        checkpoint_path=tmp_path / "l.ckpt",
        metrics_path=tmp_path / "l.jsonl",
        progress=False,
    )
    assert seen == {"pt": ["answer"], "lora": ["prompt_and_answer"]}


def test_left_padded_batch_generates_what_each_row_generates_alone(tiny_pair):
    _, framing, _, evaluation = prepare_run(receiver_only(tiny_pair))
    model = tiny_pair.receiver.model
    embed = model.get_input_embeddings()
    items = sorted(evaluation[:6], key=lambda e: len(e.fields["text"]))  # ragged lengths
    with torch.inference_mode():
        batch = receiver_batch(framing, items, embed)
        assert (batch.attention_mask[:, 0] == 0).any()  # some rows really are padded
        assert (batch.attention_mask[:, -1] == 1).all()  # ... on the left
        together = generate_from_embeds(model, framing, batch.embeds, batch.attention_mask)
        alone = []
        for item in items:
            one = receiver_batch(framing, [item], embed)
            alone += generate_from_embeds(model, framing, one.embeds, one.attention_mask)
    assert together == alone


# ----------------------------------------------------------------------------- LoRA


def test_lora_trains_rank_8_adapters_only_and_leaves_base_weights_unchanged(
    tiny_pair, model_cache, tmp_path
):
    receiver = fresh_receiver(model_cache)
    pair = LoadedPair(tiny_pair.spec, None, receiver, torch.device("cpu"))
    cfg, framing, train, _ = prepare_run(pair, steps=3)
    base = dict(receiver.model.named_parameters())  # the same Parameter objects after wrapping
    snapshot = {n: p.detach().clone() for n, p in base.items()}
    outcome = train_lora(
        cfg,
        pair,
        framing,
        train,
        [],
        settings=LoraSettings(),
        schedule_name="bridge",
        checkpoint_path=tmp_path / "l.ckpt",
        metrics_path=tmp_path / "l.jsonl",
        progress=False,
    )
    for name, param in base.items():
        assert not param.requires_grad and torch.equal(param, snapshot[name]), name
    trainable = {n: p for n, p in outcome.model.named_parameters() if p.requires_grad}
    hidden, kv_width = 96, 48  # tiny Mistral: 4 heads of 24, 2 key-value heads
    expected = {}
    for layer in range(2):
        for proj, out_width in (("q_proj", hidden), ("v_proj", kv_width)):
            stem = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            expected[f"{stem}.lora_A.default.weight"] = (8, hidden)
            expected[f"{stem}.lora_B.default.weight"] = (out_width, 8)
    assert {n: tuple(p.shape) for n, p in trainable.items()} == expected
    assert sum(p.numel() for p in trainable.values()) == 2 * (8 * (96 + 96) + 8 * (96 + 48))
    lora_b = [p for n, p in trainable.items() if "lora_B" in n]
    assert all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: it has trained
    assert outcome.loop.steps_completed == cfg.steps


def test_lora_method_schedule_is_the_originals():
    cfg = tiny_config()
    settings = LoraSettings()
    assert (settings.rank, settings.alpha, settings.dropout) == (8, 16, 0.05)
    assert settings.target_modules == ("q_proj", "v_proj")
    assert settings.loss_on == "prompt_and_answer"  # §5.7: prompt tokens carry loss too
    schedule, n_train = lora_schedule(settings, cfg, 4000, "method")
    assert n_train == 2000 and schedule.steps == 3 * 500  # 3 epochs of 2,000 at batch 4
    assert (schedule.lr, schedule.batch_size, schedule.grad_clip) == (1e-4, 4, None)
    assert lora_schedule(settings, cfg, 64, "method") == (replace(schedule, steps=48), 64)
    assert lora_schedule(settings, cfg, 64, "bridge") == (Schedule.of(cfg), 64)
    with_quick_evals = tiny_config(eval_every=50)
    assert lora_schedule(settings, with_quick_evals, 4000, "method")[0].eval_every == 500


def test_lora_resumed_after_a_signal_ends_with_the_same_adapters(tiny_pair, model_cache, tmp_path):
    """Adapter dropout draws from the RNG every step: resume must restore it exactly."""

    def run(stem: str, **kwargs):
        pair = LoadedPair(tiny_pair.spec, None, fresh_receiver(model_cache), torch.device("cpu"))
        cfg, framing, train, _ = prepare_run(pair, steps=4)
        return train_lora(
            cfg,
            pair,
            framing,
            train,
            [],
            settings=LoraSettings(),
            schedule_name="bridge",
            checkpoint_path=tmp_path / f"{stem}.ckpt",
            metrics_path=tmp_path / f"{stem}.jsonl",
            progress=False,
            **kwargs,
        )

    def adapters(outcome):
        return {n: p.detach() for n, p in outcome.model.named_parameters() if p.requires_grad}

    straight = adapters(run("a"))
    with pytest.raises(TrainingInterrupted):
        run("b", on_step=lambda s: s == 2 and signal.raise_signal(signal.SIGUSR2))
    resumed = run("b")
    assert resumed.loop.resumed_from_step == 2
    for name, tensor in adapters(resumed).items():
        assert torch.equal(tensor, straight[name]), name


# ----------------------------------------------------------------------------- noise


def test_noise_tokens_sit_at_the_bridge_scale_fresh_per_item_and_batch_independent():
    uids = [f"item-{i}" for i in range(5)]
    target = 0.0123
    noise = noise_soft_tokens(uids, 4, 96, target, seed=3)  # (5, 4, 96)
    rms = noise.pow(2).mean(dim=-1).sqrt()  # (5, 4)
    assert torch.allclose(rms, torch.full_like(rms, target), rtol=1e-4)
    assert not torch.equal(noise[0], noise[1])  # fresh per item
    alone = noise_soft_tokens(uids[3:4], 4, 96, target, seed=3)
    assert torch.equal(alone[0], noise[3])  # an item's noise ignores its batch
    assert not torch.equal(noise_soft_tokens(uids, 4, 96, target, seed=4), noise)


def test_noise_goes_where_the_bridges_soft_tokens_go(tiny_pair, monkeypatch):
    pair = receiver_only(tiny_pair)
    cfg, framing, _, evaluation = prepare_run(pair)
    items = evaluation[:3]
    rms = embedding_median_rms(pair.receiver)
    seen = []

    def spy(model, framing_, embeds, mask):
        seen.append(embeds.clone())
        return generate_from_embeds(model, framing_, embeds, mask)

    monkeypatch.setattr("telepathy.baselines.noise.generate_from_embeds", spy)
    report = evaluate_noise(pair, framing, items, rms=rms, seed=cfg.seed)
    embed = pair.receiver.model.get_input_embeddings()
    noise = noise_soft_tokens([e.uid for e in items], cfg.soft_tokens, 96, rms, cfg.seed)
    assert torch.equal(seen[0], framing.receiver_prefix(noise, embed))  # [primer ++ noise]
    assert seen[0].shape[1] == len(framing.primer_ids) + cfg.soft_tokens
    assert report.metrics["n_examples"] == 3


# ----------------------------------------------------------------------------- probe


@pytest.mark.parametrize(
    ("source_layer", "depth", "expected"),
    [
        (2, 2, [1, 2]),  # tiny: 16..31 collapse onto blocks 1 and 2
        (12, 18, [9, 10, 11, 12, 14, 16, 17]),  # small (Gemma-3, 18 blocks) + its layer 12
        (31, 32, [16, 17, 20, 24, 28, 31]),  # the paper's sender: the list itself
    ],
)
def test_probe_layers_scale_the_reference_list_to_the_sender(source_layer, depth, expected):
    assert probe_module.probe_layers(source_layer, depth) == expected


def _sender_only(pair: LoadedPair) -> LoadedPair:
    return LoadedPair(pair.spec, pair.sender, None, pair.device)


def test_probe_is_fitted_on_train_items_only_and_before_any_eval_item_is_read(
    tiny_pair, monkeypatch
):
    pair = _sender_only(tiny_pair)
    cfg, framing, train, evaluation = prepare_run(pair, train_size=48)
    events: list[tuple[str, object]] = []
    real_pool, real_fit = probe_module.pooled_sender_states, probe_module.fit_probe

    def pool(sender, framing_, examples, layers, **kwargs):
        events.append(("features", {e.uid for e in examples}))
        return real_pool(sender, framing_, examples, layers, **kwargs)

    def fit(features, labels, seed):
        events.append(("fit", (features.copy(), labels.copy())))
        return real_fit(features, labels, seed)

    monkeypatch.setattr(probe_module, "pooled_sender_states", pool)
    monkeypatch.setattr(probe_module, "fit_probe", fit)
    outcome = probe_module.run_probe(
        pair.sender, framing, train, evaluation[:20], layers=[1, 2], seed=cfg.seed
    )
    kinds = [kind for kind, _ in events]
    assert kinds == ["features", "fit", "fit", "features"]  # eval features only after fitting
    train_uids, eval_uids = events[0][1], events[-1][1]
    assert train_uids == {e.uid for e in train} and not train_uids & eval_uids
    reference = real_pool(pair.sender, framing, train, [1, 2])
    names = get_dataset(cfg.dataset).label_names
    for (_, (features, labels)), layer in zip(events[1:3], [1, 2], strict=True):
        assert np.array_equal(features, reference[layer])  # exactly the train features
        assert labels.tolist() == [names.index(e.label) for e in train]
    assert set(outcome.eval_predictions) == {1, 2} and outcome.n_train == 48


def test_probe_predictions_ignore_eval_labels(tiny_pair):
    """Eval items are the train texts with flipped labels. A probe fitted on train only
    predicts on them what it predicts on their train copies (here: all right, so 0 % on the
    flipped labels); a fit that also saw the eval items would face contradictory labels."""
    pair = _sender_only(tiny_pair)
    cfg, framing, _, _ = prepare_run(pair)
    fillers = ["the film was", "honestly it felt", "my friends said it was", "overall", "so"]
    train = [
        Example(f"t{i}-{word}", {"text": f"{filler} {word}"}, label)
        for i, filler in enumerate(fillers * 4)
        for word, label in (("good", "positive"), ("bad", "negative"))
    ]  # the label is the last token, which the last-token pooling reads directly
    flip = {"negative": "positive", "positive": "negative"}
    flipped = [Example(f"flipped-{e.uid}", e.fields, flip[e.label]) for e in train]
    outcome = probe_module.run_probe(
        pair.sender, framing, train, flipped, layers=[2], seed=cfg.seed
    )
    names = get_dataset(cfg.dataset).label_names
    gold = np.array([names.index(e.label) for e in flipped])
    assert outcome.train_accuracy[2] == 1.0
    assert float((outcome.eval_predictions[2] == gold).mean()) == 0.0


# ----------------------------------------------------------------------------- the CLI


COMMON = (
    "--protocol corrected --pair tiny --dataset synth_sentiment --seed 7 --threads 2 "
    "--no-progress --set train_size=16 --set batch_size=4 --set steps=3 --set eval_first_n=30"
)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, model_cache):
    """Every command once on the tiny pair, recording which LMs each one loaded."""
    out = tmp_path_factory.mktemp("baselines")
    commands = {
        "prompt_tuning_control": "train-baseline --method prompt_tuning_control",
        "prompt_tuning": "train-baseline --method prompt_tuning",
        "lora": "train-baseline --method lora",  # method schedule: 3 epochs of 16 at batch 4
        "noise_soft_tokens": "eval-noise",
        "linear_probe": "probe",
    }
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        for method, command in commands.items():
            loaded: list[str] = []
            real = runtime_module.load_lm

            def recording(spec, *args, _loaded=loaded, _real=real, **kwargs):
                _loaded.append(spec.key)
                return _real(spec, *args, **kwargs)

            patch.setattr(runtime_module, "load_lm", recording)
            args = f"{command} {COMMON} --cache-dir {model_cache} --result {out}/{method}.json"
            if command.startswith("train-baseline"):
                args += f" --checkpoint {out}/{method}.ckpt --metrics {out}/{method}.jsonl"
            code = cli.main(args.split())
            assert code == 0, method
            runs[method] = (json.loads((out / f"{method}.json").read_text()), loaded)
            patch.setattr(runtime_module, "load_lm", real)
    return out, runs


def test_receiver_baselines_never_load_the_sender_and_the_probe_no_receiver(cli_runs):
    _, runs = cli_runs
    tiny = get_pair("tiny")
    for method in ("prompt_tuning_control", "prompt_tuning", "lora", "noise_soft_tokens"):
        record, loaded = runs[method]
        assert loaded == [tiny.receiver.key], method
        assert record["pair"]["sender_revision"] is None
        assert record["parameters"]["sender_total"] is None
    record, loaded = runs["linear_probe"]
    assert loaded == [tiny.sender.key] and record["parameters"]["receiver_total"] is None


def test_every_record_validates_and_pairs_item_by_item_with_the_bridge_eval(cli_runs):
    out, runs = cli_runs
    spec = get_dataset("synth_sentiment")
    bridge_ids = [e.uid for e in load_examples(spec, "eval", task_seed=0)[:30]]
    for method, (record, _) in runs.items():
        assert validate_file(out / f"{method}.json") == [], method
        assert (record["kind"], record["method"]) == ("eval", method)
        assert [s["id"] for s in record["samples"]] == bridge_ids  # McNemar pairs by id
        assert record["eval_examples"]["ids_sha256"] == ids_digest(bridge_ids)
        assert all(SAMPLE_KEYS <= set(s) for s in record["samples"])
        assert record["parameters"]["bridge_trainable"] == 0


def test_records_carry_each_methods_trainable_count_and_training(cli_runs):
    _, runs = cli_runs
    d_receiver, d_sender, k = 96, 64, 8
    expected = {
        "prompt_tuning_control": k * d_receiver + 1,
        "prompt_tuning": k * d_receiver + 1,
        "lora": 2 * (8 * (96 + 96) + 8 * (96 + 48)),
        "noise_soft_tokens": 0,
        "linear_probe": d_sender + 1,  # binary logistic regression: coefficients + intercept
    }
    for method, count in expected.items():
        assert runs[method][0]["parameters"]["method_trainable"] == count, method
    for method in ("prompt_tuning_control", "prompt_tuning"):
        metrics = runs[method][0]["metrics"]
        assert metrics["train_steps_completed"] == 3 and runs[method][0]["soft_tokens"] == k
    lora = runs["lora"][0]
    assert lora["metrics"]["train_steps_completed"] == 12  # 3 epochs x ceil(16 / 4)
    assert lora["parameters"]["receiver_trainable"] == expected["lora"]  # adapters live there
    assert lora["hyperparameters"]["lora"]["rank"] == 8 and lora["soft_tokens"] is None
    control = runs["prompt_tuning_control"][0]
    assert len({s["raw"] for s in control["samples"]}) == 1


def test_noise_record_states_the_bridges_scale(cli_runs, tiny_pair):
    record = cli_runs[1]["noise_soft_tokens"][0]
    rms = embedding_median_rms(tiny_pair.receiver)
    assert record["hyperparameters"]["noise_token_rms"] == pytest.approx(rms)  # corrected: s0
    assert record["soft_tokens"] == 8 and record["source_layer"] is None


def test_probe_record_reports_every_scaled_layer(cli_runs):
    record = cli_runs[1]["linear_probe"][0]
    assert record["hyperparameters"]["probe_layers"] == [1, 2] and record["source_layer"] == 2
    metrics = record["metrics"]
    samples = record["samples"]
    for layer in (1, 2):
        correct = [s["extra"][f"correct_layer_{layer}"] for s in samples]
        assert metrics[f"accuracy_layer_{layer}"] == pytest.approx(np.mean(correct))
    assert metrics["accuracy"] == metrics["accuracy_layer_2"]  # the record's layer: the bridge's


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "train-baseline --method prompt_tuning --lora-schedule bridge",
            "--lora-schedule 'bridge' applies to --method lora only",
        ),
        ("train-baseline --method lora --lora-schedule fast", "'fast' is not one of method"),
        ("train-baseline --method lora --resume /no/such.ckpt", "--resume /no/such.ckpt: no such"),
        ("eval-noise --batch-size 0", "--batch-size must be >= 1, got 0"),
        ("probe --set steps=0", "steps must be a number >= 1, got 0"),
    ],
)
def test_bad_input_fails_before_any_model_loads(args, message, tmp_path, monkeypatch, caplog):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(runtime_module, "load_lm", refuse)
    outputs = f"--result {tmp_path}/r.json"
    if args.startswith("train-baseline"):
        outputs += f" --checkpoint {tmp_path}/c.pt --metrics {tmp_path}/m.jsonl"
    identity = "--pair tiny --dataset synth_sentiment --seed 1"
    with caplog.at_level(logging.ERROR):
        code = cli.main([*args.split(), *identity.split(), *outputs.split()])
    assert code == 1 and message in caplog.text and "a model was loaded" not in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_probe_refuses_a_task_without_classes_before_loading(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(runtime_module, "load_lm", lambda *a, **k: pytest.fail("loaded"))
    argv = f"probe --pair tiny --dataset gsm8k --seed 1 --result {tmp_path}/r.json".split()
    with caplog.at_level(logging.ERROR):
        assert cli.main(argv) == 1
    assert "the linear probe needs a dataset with classes; 'gsm8k' is a numeric task" in (
        caplog.text
    )


def test_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main("train-baseline --method bridge --pair tiny --dataset x --seed 1".split())
    assert stop.value.code == 2 and "invalid choice: 'bridge'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- schema


def test_schema_takes_null_counts_for_an_unloaded_lm_and_a_method_count(cli_runs):
    record = json.loads(json.dumps(cli_runs[1]["prompt_tuning"][0]))
    assert validate_result(record) == []
    record["parameters"]["method_trainable"] = -1
    assert any("parameters.method_trainable" in p for p in validate_result(record))
    record["parameters"]["method_trainable"] = 769
    record["parameters"]["receiver_total"] = -5
    assert any("parameters.receiver_total" in p for p in validate_result(record))
