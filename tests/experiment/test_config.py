"""Protocol presets resolve to the settings method.md reports; bad settings fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from telepathy.experiment.config import LATER_SETTINGS, ConfigError, RunConfig, resolve_run_config
from telepathy.experiment.protocols import HARDCODED_SCALE_FACTOR, PROTOCOLS
from telepathy.results.checkpoint import CheckpointError, check_matches
from telepathy.results.provenance import config_digest


def resolve(protocol="dec2025", pair="paper", dataset="sst2", seed=42, **overrides):
    return resolve_run_config(
        protocol=protocol, pair=pair, dataset=dataset, seed=seed, overrides=overrides
    )


@pytest.mark.parametrize(
    ("dataset", "k", "layer", "steps", "lr", "batch", "accum", "primer"),
    [  # method.md §2.4 / §3.1 (Era B)
        ("sst2", 8, 16, 2000, 2e-4, 16, 2, "Sentiment:"),
        ("agnews", 8, 31, 2000, 2e-4, 16, 2, "Topic:"),
        ("trec", 16, 31, 2000, 1e-4, 8, 1, "Question Type: "),
        ("banking77", 16, 31, 3000, 1e-4, 8, 1, "Intent: "),
        ("passkey", 16, 31, 1000, 1e-4, 8, 1, "The code is "),
    ],
)
def test_dec2025_matches_era_b(dataset, k, layer, steps, lr, batch, accum, primer):
    cfg = resolve(dataset=dataset)
    assert (cfg.soft_tokens, cfg.source_layer, cfg.steps, cfg.lr) == (k, layer, steps, lr)
    assert (cfg.batch_size, cfg.grad_accum, cfg.primer) == (batch, accum, primer)
    assert cfg.eval_first_n == (None if dataset == "passkey" else 200)


def test_dec2025_trec_reproduces_the_hardcoded_scale():
    assert resolve(dataset="trec").scale_init_factor == HARDCODED_SCALE_FACTOR
    assert 0.0027 * HARDCODED_SCALE_FACTOR == pytest.approx(0.03)
    assert resolve(dataset="sst2").scale_init_factor == 1.0


@pytest.mark.parametrize("dataset", ["sst2", "agnews", "trec"])
def test_camera_ready_matches_era_d(dataset):
    cfg = resolve(protocol="camera_ready", dataset=dataset)
    assert (cfg.soft_tokens, cfg.source_layer, cfg.steps, cfg.lr, cfg.batch_size) == (
        32,
        31,
        1500,
        2e-4,
        16,
    )
    assert cfg.grad_accum == 1 and cfg.eval_first_n is None and cfg.max_new_tokens == 10


def test_camera_ready_has_no_banking77():
    with pytest.raises(ValueError, match=r"camera_ready.*banking77.*covers: agnews, sst2, trec"):
        resolve(protocol="camera_ready", dataset="banking77")


def test_corrected_applies_the_fixes():
    cfg = resolve(protocol="corrected", dataset="trec")
    assert cfg.scale_init_factor == 1.0 and cfg.eval_first_n is None
    assert cfg.normalize_sender and cfg.bridge_dtype == "float32"
    assert "{choices}" in resolve(protocol="corrected", dataset="commonsenseqa").sender_template
    assert "{sol1}" in resolve(protocol="corrected", dataset="piqa").sender_template


def test_every_protocol_resolves_every_offline_task_for_every_pair():
    for protocol in PROTOCOLS:
        for dataset in ("synth_sentiment", "synth_topic", "synth_qtype"):
            for pair in ("paper", "small", "tiny"):
                resolve(protocol=protocol, pair=pair, dataset=dataset)


def test_layers_scale_to_the_sender_depth():
    assert resolve(pair="small", dataset="synth_topic").source_layer == 17  # 31/32 of 18 blocks
    assert resolve(pair="small", dataset="synth_sentiment").source_layer == 9  # 16/32 of 18
    assert resolve(protocol="corrected", pair="small", dataset="sst2").source_layer == 12


def test_digest_changes_with_any_setting_and_is_stable():
    assert resolve().digest() == resolve().digest()
    assert resolve().digest() != resolve(lr=3e-4).digest()
    assert resolve().digest() != resolve(seed=123).digest()


def test_bridge_architecture_defaults_to_the_perceiver_and_can_be_set():
    for protocol in PROTOCOLS:
        assert resolve(protocol=protocol).bridge_architecture == "perceiver"
    assert resolve(bridge_architecture="mlp").bridge_architecture == "mlp"
    assert resolve(bridge_architecture="linear").to_dict()["bridge_architecture"] == "linear"


def test_later_settings_left_every_earlier_digest_alone():
    # The digest of a config from before a setting existed (the same dict without its key):
    # the workflow reruns training on a changed digest, and nothing about these runs changed.
    cfg = resolve()
    before = {k: v for k, v in cfg.to_dict().items() if k not in LATER_SETTINGS}
    assert cfg.digest() == config_digest(before)
    assert RunConfig.from_dict(before) == cfg  # an old saved config reads as the perceiver
    assert (
        len({cfg.digest(), *(resolve(bridge_architecture=a).digest() for a in ("mlp", "linear"))})
        == 3
    )


def test_resuming_a_checkpoint_saved_before_the_setting_existed():
    pair = {"name": "paper", "sender_id": "s", "receiver_id": "r"}
    old = {k: v for k, v in resolve().to_dict().items() if k != "bridge_architecture"}
    state = {"pair": pair, "config": old}
    check_matches(state, Path("state.pt"), pair=pair, cfg=resolve())  # same run: accepted
    with pytest.raises(CheckpointError, match="bridge_architecture: 'perceiver' -> 'mlp'"):
        check_matches(state, Path("state.pt"), pair=pair, cfg=resolve(bridge_architecture="mlp"))


def test_string_overrides_are_typed():
    cfg = resolve(steps="10", lr="1e-3", drop_last="false", eval_first_n="none")
    assert (cfg.steps, cfg.lr, cfg.drop_last, cfg.eval_first_n) == (10, 1e-3, False, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pair": "gpt5"}, "unknown model pair 'gpt5'; valid pairs: paper, small, tiny"),
        ({"dataset": "mnist"}, "unknown dataset 'mnist'; valid names: .*sst2"),
        ({"protocol": "jan"}, "unknown protocol 'jan'; valid protocols: camera_ready, corrected"),
        ({"soft_tokens": 0}, "soft_tokens must be a number >= 1, got 0"),
        ({"soft_tokens": -4}, "soft_tokens must be a number >= 1, got -4"),
        ({"source_layer": 33}, "source_layer 33 is beyond the sender's depth.*0..32"),
        ({"pair": "tiny", "dataset": "synth_sentiment", "source_layer": 3}, "0..2"),
        ({"lr": 0}, "lr must be > 0"),
        ({"steps": "many"}, "steps: expected int, got 'many'"),
        ({"colour": "red"}, "unknown setting 'colour'; settings that can be set: seed"),
        ({"bridge_dtype": "fp8"}, "bridge_dtype must be one of"),
        (
            {"bridge_architecture": "transformer"},
            r"bridge_architecture must be one of \('perceiver', 'mlp', 'linear'\), "
            "got 'transformer'",
        ),
    ],
)
def test_bad_settings_name_the_value_and_the_choices(kwargs, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        resolve(**kwargs)


def test_all_problems_are_reported_together():
    with pytest.raises(ConfigError) as err:
        resolve(soft_tokens=0, steps=0, lr=-1)
    assert all(name in str(err.value) for name in ("soft_tokens", "steps", "lr"))
