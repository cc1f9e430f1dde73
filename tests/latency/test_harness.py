"""The latency benchmark on the tiny pair: fixed lengths, synchronised clock, record and errors."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from telepathy.bridge import BRIDGE_CLASSES, count_parameters
from telepathy.cli import main
from telepathy.data import get_dataset, load_examples
from telepathy.experiment.config import BRIDGE_ARCHITECTURES
from telepathy.framing import Framing
from telepathy.latency import timing
from telepathy.latency.harness import (
    PHASES,
    BenchSettings,
    LatencyHarness,
    greedy_decode,
    left_pad,
    run_benchmark,
)
from telepathy.latency.summary import describe, speed_ratios, without_decode
from telepathy.latency.timing import MemoryProbe, PhaseTimer
from telepathy.models.pair import build_bridge
from telepathy.results.checkpoint import save_checkpoint
from telepathy.results.latency_record import validate_latency

DECODE, RELAY = 3, 4
ALL_METHODS = ("bridge", "direct_text", "text_relay", "train_step")


def settings(**overrides) -> BenchSettings:
    values = dict(
        decode_tokens=DECODE,
        relay_tokens=RELAY,
        batch_sizes=(1, 2),
        trials=2,
        warmup=1,
        methods=ALL_METHODS,
    )
    values.update(overrides)
    return BenchSettings(**values)


@pytest.fixture(scope="module")
def harness_parts(tiny_pair):
    cfg = tiny_config()
    framing = Framing(
        cfg, get_dataset(cfg.dataset), tiny_pair.sender.tokenizer, tiny_pair.receiver.tokenizer
    )
    torch.manual_seed(0)
    bridge = build_bridge(cfg, tiny_pair, 0.05).eval().requires_grad_(False)
    examples = load_examples(get_dataset(cfg.dataset), "eval")[:8]
    return tiny_pair, framing, bridge, examples


def make_harness(harness_parts, **overrides) -> LatencyHarness:
    pair, framing, bridge, _ = harness_parts
    return LatencyHarness(pair, framing, bridge, settings(**overrides))


def eos_dominates(model, eos_id: int):
    """Make every next-token distribution put (almost) all mass on EOS; returns the hook."""

    def push_eos(_module, _inputs, logits):
        logits = logits.clone()
        logits[..., eos_id] += 1e4
        return logits

    return model.get_output_embeddings().register_forward_hook(push_eos)


# ----------------------------------------------------------------------------- fixed lengths


def test_every_method_generates_exactly_the_fixed_tokens_even_when_eos_comes_first(
    harness_parts,
):
    pair, framing, _, examples = harness_parts
    eos = framing.eos_id
    hooks = [eos_dominates(pair.sender.model, eos), eos_dominates(pair.receiver.model, eos)]
    try:
        # The setup bites: plain HF generation stops after the first (EOS) token.
        ids = torch.tensor([[5, 6, 7]])
        stopped = pair.receiver.model.generate(
            input_ids=ids, max_new_tokens=DECODE, do_sample=False, eos_token_id=eos
        )
        assert stopped.shape[1] == ids.shape[1] + 1
        harness = make_harness(harness_parts)
        for method in ("bridge", "direct_text", "text_relay"):
            _, output = harness.run_once(method, examples[:2])
            lengths = {name: tuple(t.shape) for name, t in output.generated.items()}
            expected = {"answer": (2, DECODE)}
            if method == "text_relay":
                expected["summary"] = (2, RELAY)
            assert lengths == expected, method
            assert all(bool((t == eos).all()) for t in output.generated.values()), method
    finally:
        for hook in hooks:
            hook.remove()


def test_greedy_decode_matches_hf_generate_on_a_left_padded_batch(tiny_pair):
    model, tokenizer = tiny_pair.receiver.model, tiny_pair.receiver.tokenizer
    rows = [tokenizer(t).input_ids for t in ("a short one", "a much longer prompt than that")]
    ids, mask = left_pad(rows, tokenizer.eos_token_id, torch.device("cpu"))
    n = 5
    with torch.inference_mode():
        ours = greedy_decode(
            model,
            PhaseTimer(torch.device("cpu")),
            input_ids=ids,
            attention_mask=mask,
            n_new=n,
            phase_prefix="receiver",
        )
        reference = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            min_new_tokens=n,
            max_new_tokens=n,
            pad_token_id=tokenizer.eos_token_id,
        )[:, ids.shape[1] :]
    assert torch.equal(ours, reference)


# ----------------------------------------------------------------------------- clock


def test_every_clock_read_follows_a_synchronize(monkeypatch, harness_parts):
    """Every perf_counter read in the timed code comes right after the sync helper."""
    events: list[str] = []
    real_perf_counter = time.perf_counter

    def fake_sync(device):
        events.append("sync")

    def fake_clock():
        events.append("clock")
        return real_perf_counter()

    harness = make_harness(harness_parts, batch_sizes=(1,), trials=2, warmup=1)
    _, _, _, examples = harness_parts
    monkeypatch.setattr(timing, "synchronize", fake_sync)
    monkeypatch.setattr(time, "perf_counter", fake_clock)  # any reader anywhere is counted
    run_benchmark(harness, examples, MemoryProbe(torch.device("cpu")))
    monkeypatch.undo()
    reads = [i for i, e in enumerate(events) if e == "clock"]
    assert reads and all(events[i - 1] == "sync" for i in reads)
    # one read to start each run plus one per phase: no phase skipped, no extra read
    runs = 1 + 2  # warm-up + trials, batch size 1 only
    assert len(reads) == runs * sum(len(PHASES[m]) + 1 for m in ALL_METHODS)


def test_phase_timer_phases_add_up_to_the_total():
    timer = PhaseTimer(torch.device("cpu"))
    for phase in ("a", "b", "a"):
        time.sleep(0.002)
        timer.lap(phase)
    assert set(timer.phases_s) == {"a", "b"}
    assert sum(timer.phases_s.values()) == pytest.approx(timer.total_s, abs=1e-12)
    assert timer.total_s >= 0.006


def test_training_step_leaves_the_timed_bridge_untouched(harness_parts):
    harness = make_harness(harness_parts)
    before = {k: v.clone() for k, v in harness.bridge.state_dict().items()}
    for _ in range(2):
        harness.run_once("train_step", harness_parts[3][:2])
    trained = harness._train_bridge.state_dict()
    assert any(not torch.equal(before[k], trained[k]) for k in before)  # the copy did train
    assert all(torch.equal(before[k], v) for k, v in harness.bridge.state_dict().items())


def test_memory_probe_sees_a_large_cpu_allocation():
    probe = MemoryProbe(torch.device("cpu"))
    baseline = probe.start()
    block = torch.ones(64 * 1024 * 1024 // 4 * 3)  # 192 MiB of float32, every page touched
    peak = probe.peak()
    del block
    assert peak - baseline >= 150 * 1024 * 1024, probe.description


# ----------------------------------------------------------------------------- summary


def test_speed_ratios_come_from_the_right_medians():
    bridge = [
        {"sender_encode": 2.0, "receiver_decode": 4.0, "total": 10.0},
        {"sender_encode": 2.0, "receiver_decode": 4.0, "total": 12.0},
        {"sender_encode": 2.0, "receiver_decode": 6.0, "total": 20.0},
    ]
    relay = [{"total": 100.0}, {"total": 120.0}, {"total": 300.0}]
    direct = [{"total": 6.0}, {"total": 8.0}, {"total": 9.0}]
    assert without_decode(bridge) == [6.0, 8.0, 14.0]
    ratios = speed_ratios({"bridge": bridge, "text_relay": relay, "direct_text": direct})
    like = ratios["like_for_like"]
    assert (like["bridge_ms"], like["text_relay_ms"]) == (12.0, 120.0)
    assert like["text_relay_over_bridge"] == pytest.approx(10.0)
    assert like["bridge_over_text_relay"] == pytest.approx(0.1)
    original = ratios["original_protocol"]
    assert original["bridge_without_generation_ms"] == 8.0  # median of 6, 8, 14
    assert original["text_relay_over_bridge"] == pytest.approx(15.0)
    assert "22.4x" in original["label"] and "no generation" in original["label"]
    assert ratios["bridge_vs_direct"]["bridge_over_direct_text"] == pytest.approx(12.0 / 8.0)
    assert set(speed_ratios({"bridge": bridge})) == set()  # nothing to compare with


def test_describe_matches_hand_computed_percentiles():
    stats = describe([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (stats["median"], stats["p25"], stats["p75"], stats["iqr"]) == (3.0, 2.0, 4.0, 2.0)
    assert stats["p5"] == pytest.approx(1.2) and stats["p95"] == pytest.approx(4.8)
    assert (stats["min"], stats["max"], stats["mean"]) == (1.0, 5.0, 3.0)


# ----------------------------------------------------------------------------- command line


def benchmark_args(out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "benchmark-latency",
        "--pair",
        "tiny",
        "--batch-sizes",
        "1,2",
        "--trials",
        "2",
        "--warmup",
        "1",
        "--decode-tokens",
        str(DECODE),
        "--relay-tokens",
        str(RELAY),
        "--methods",
        ",".join(ALL_METHODS),
        "--n-examples",
        "8",
        "--device",
        "cpu",
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if any model would load (errors must come first)."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    # the names the benchmark calls: weights.py binds load_pair when it is imported
    monkeypatch.setattr("telepathy.latency.weights.load_pair", refuse)
    monkeypatch.setattr("telepathy.models.random_weights.load_random_pair", refuse)


@pytest.fixture(scope="module")
def random_run(model_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("latency") / "latency.json"
    args = ["--random-weights", "--protocol", "corrected", "--dataset", "synth_sentiment"]
    assert main(benchmark_args(out, model_cache, *args)) == 0
    return json.loads(out.read_text())


def test_random_weights_run_writes_a_valid_record_that_says_so(random_run):
    assert validate_latency(random_run) == []
    assert random_run["mode"]["weights"] == "random_weights"
    assert random_run["mode"]["checkpoint"] is None
    assert random_run["mode"]["random_weights"]["seed"] == 0
    cells = {(r["method"], r["batch_size"]) for r in random_run["results"]}
    assert cells == {(m, b) for m in ALL_METHODS for b in (1, 2)}
    assert [r["batch_size"] for r in random_run["ratios"]] == [1, 2]
    assert {"like_for_like", "original_protocol", "bridge_vs_direct"} <= set(
        random_run["ratios"][0]
    )


def test_recorded_trials_have_every_phase_and_add_up_to_their_total(random_run):
    for row in random_run["results"]:
        assert set(row["phases_ms"]) == set(PHASES[row["method"]])
        assert len(row["trials_ms"]) == row["n_trials"] == 2
        for trial in row["trials_ms"]:
            assert set(trial) == {*PHASES[row["method"]], "total"}
            phases = sum(v for k, v in trial.items() if k != "total")
            assert phases == pytest.approx(trial["total"], rel=1e-9)
        want = {"answer": DECODE, "summary": RELAY} if row["method"] == "text_relay" else {}
        if row["method"] in ("bridge", "direct_text"):
            want = {"answer": DECODE}
        assert row["generated_tokens"] == want
        expected_throughput = row["batch_size"] / (row["total_ms"]["median"] / 1e3)
        assert row["throughput_items_per_s"] == pytest.approx(expected_throughput)


def test_validation_rejects_phases_that_do_not_add_up(random_run):
    broken = json.loads(json.dumps(random_run))
    broken["results"][0]["trials_ms"][0]["total"] += 5.0
    assert any("phases sum to" in p for p in validate_latency(broken))
    broken = json.loads(json.dumps(random_run))
    broken["mode"]["checkpoint"] = None
    broken["mode"]["weights"] = "trained_checkpoint"
    assert validate_latency(broken)


def test_random_weights_needs_no_checkpoint_or_real_weights(model_cache, tmp_path, monkeypatch):
    # the name the benchmark calls: patched in telepathy.models.pair, the refusal stayed bound
    # in weights.py for every later test whenever this test imported weights.py first
    monkeypatch.setattr("telepathy.latency.weights.load_pair", pytest.fail)
    out = tmp_path / "latency.json"
    args = ["--random-weights", "--protocol", "corrected", "--dataset", "synth_sentiment"]
    argv = benchmark_args(out, model_cache, *args)
    argv[argv.index("--methods") + 1] = "bridge"
    argv[argv.index("--batch-sizes") + 1] = "1"
    assert main(argv) == 0
    assert json.loads(out.read_text())["mode"]["weights"] == "random_weights"


@pytest.mark.parametrize("architecture", BRIDGE_ARCHITECTURES)
def test_trained_checkpoint_run_records_path_and_digest(
    tiny_pair, model_cache, tmp_path, architecture
):
    cfg = tiny_config(bridge_architecture=architecture)
    bridge = build_bridge(cfg, tiny_pair, 0.05)
    assert type(bridge) is BRIDGE_CLASSES[architecture]
    checkpoint = tmp_path / "bridge.pt"
    save_checkpoint(
        checkpoint,
        {
            "kind": "bridge",
            "step": 6,
            "config": cfg.to_dict(),
            "config_sha256": cfg.digest(),
            "pair": tiny_pair.identity(),
            "bridge_shape": vars(bridge.shape),
            "output_scale_init": 0.05,
            "embedding_rms": 0.05,
            "bridge": bridge.state_dict(),
        },
    )
    out = tmp_path / "latency.json"
    argv = benchmark_args(out, model_cache, "--checkpoint", str(checkpoint))
    argv[argv.index("--methods") + 1] = "bridge,text_relay"
    argv[argv.index("--batch-sizes") + 1] = "1"
    assert main(argv) == 0
    record = json.loads(out.read_text())
    assert validate_latency(record) == []
    mode = record["mode"]
    assert mode["weights"] == "trained_checkpoint" and mode["random_weights"] is None
    assert mode["checkpoint"]["path"] == str(checkpoint)
    assert mode["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert mode["checkpoint"]["trained_steps"] == 6
    assert (record["protocol"], record["dataset"]) == (cfg.protocol, cfg.dataset)
    # the checkpoint's own architecture was rebuilt and timed, not a default Perceiver
    assert record["config"]["bridge_architecture"] == architecture
    assert record["parameters"]["bridge_total"] == count_parameters(bridge)


def test_missing_checkpoint_fails_before_any_model_loads(no_model_loads, tmp_path, caplog):
    missing = tmp_path / "nope" / "bridge.pt"
    with caplog.at_level(logging.ERROR):
        assert (
            main(benchmark_args(tmp_path / "o.json", tmp_path, "--checkpoint", str(missing))) == 1
        )
    assert str(missing) in caplog.text and "does not exist" in caplog.text
    assert not (tmp_path / "o.json").exists()


def test_checkpoint_of_another_pair_is_refused_before_loading(
    no_model_loads, tiny_pair, tmp_path, caplog
):
    cfg = tiny_config()
    checkpoint = tmp_path / "bridge.pt"
    save_checkpoint(
        checkpoint, {"kind": "bridge", "config": cfg.to_dict(), "pair": tiny_pair.identity()}
    )
    argv = benchmark_args(tmp_path / "o.json", tmp_path, "--checkpoint", str(checkpoint))
    argv[argv.index("--pair") + 1] = "small"
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    assert "--pair 'small'" in caplog.text and "'tiny'" in caplog.text


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--batch-sizes", "1,x", "'x'"),
        ("--batch-sizes", "2,0", "0"),
        ("--methods", "bridge,teleport", "'teleport'"),
        ("--trials", "0", "--trials: 0"),
        ("--decode-tokens", "0", "--decode-tokens: 0"),
        ("--n-examples", "1", "--n-examples: 1"),
    ],
)
def test_bad_arguments_fail_before_loading_and_name_the_value(
    no_model_loads, tmp_path, caplog, option, value, named
):
    random = ["--random-weights", "--protocol", "corrected", "--dataset", "synth_sentiment"]
    argv = benchmark_args(tmp_path / "o.json", tmp_path, *random)
    argv[argv.index(option) + 1] = value
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    assert named in caplog.text


def test_random_weights_without_a_dataset_is_refused(no_model_loads, tmp_path, caplog):
    argv = benchmark_args(tmp_path / "o.json", tmp_path, "--random-weights")
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    assert "--protocol and --dataset" in caplog.text


def test_exactly_one_of_checkpoint_and_random_weights(tmp_path):
    with pytest.raises(SystemExit):
        main(benchmark_args(tmp_path / "o.json", tmp_path))
    with pytest.raises(SystemExit):
        main(benchmark_args(tmp_path / "o.json", tmp_path, "--random-weights", "--checkpoint", "x"))


# ----------------------------------------------------------------------------- paper pair offline


def test_paper_pair_configs_give_the_published_sizes_without_the_hub(model_cache, monkeypatch):
    """The paper's models build from recorded config values on the meta device (no download)."""
    from transformers import AutoModelForCausalLM

    from telepathy.experiment.pairs import get_pair
    from telepathy.models.random_weights import FoldedTokenizer, _config_and_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(model_cache / "empty-hf-home"))
    paper = get_pair("paper")
    published = {paper.sender.key: 8_030_261_248, paper.receiver.key: 7_248_023_552}
    for spec in (paper.sender, paper.receiver):
        config, tokenizer, _ = _config_and_tokenizer(spec, model_cache, "paper")
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        assert sum(p.numel() for p in model.parameters()) == published[spec.key]
        assert config.num_hidden_layers == spec.n_layers
        assert isinstance(tokenizer, FoldedTokenizer)  # the gated tokenizer is not cached
        ids = tokenizer(["a stand-in tokenizer", "x"], padding=True, return_tensors="pt")
        assert int(ids.input_ids.max()) < config.vocab_size
        assert isinstance(tokenizer.decode([config.vocab_size - 1]), str)


def test_folded_tokenizer_folds_ids_into_a_small_vocabulary(tiny_pair):
    from telepathy.models.random_weights import FoldedTokenizer

    folded = FoldedTokenizer(tiny_pair.receiver.tokenizer, 1000)
    single = folded("tokenizers fold ids", add_special_tokens=False).input_ids
    batch = folded(["one", "two words here"], padding=True, return_tensors="pt").input_ids
    assert single and max(single) < 1000 and int(batch.max()) < 1000
    assert len(folded) == 1000


def test_benchmark_latency_is_registered_with_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark-latency", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "usage: telepathy benchmark-latency" in help_text
    assert "--random-weights" in help_text and "--checkpoint" in help_text
