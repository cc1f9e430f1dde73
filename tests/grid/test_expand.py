"""telepathy.grid: the runs, ablations, baselines and benchmarks a workflow config asks for."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from telepathy.experiment.protocols import DEC2025_DATASETS
from telepathy.grid import (
    BASELINE_METHODS,
    PROMPTING_METHODS,
    TRAINED_METHODS,
    GridError,
    baseline_minutes,
    expand_grid,
    training_minutes,
)
from telepathy.grid.expand import SETTING_KEYS

REPO = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((REPO / "config.yaml").read_text())


def _config(protocol="dec2025", **changes):
    config = copy.deepcopy(PAPER)
    config["protocol"] = protocol
    config.update(changes)
    return config


def _count(grid, method):
    return sum(1 for b in grid.baselines.values() if b.method == method)


def test_dec2025_grid_is_method_md_s_grid():
    grid = expand_grid(_config())
    # 17 main runs (§2.4), 4 reasoning/GSM8K bridges (§10.1), K 4/16/32/64, layers 20-31 and
    # the linear and MLP bridges; the K 8 / layer 16 / Perceiver point is the main run
    assert len(grid.runs) == 17 + 4 + 4 + 4 + 2
    shared = grid.runs[("paper", "sst2", "perceiver", "8", "16", "42")]
    assert shared.studies == ("main", "soft_tokens", "source_layer", "architecture")
    expected = {
        "zero_shot_sender": 8,  # 4 classification + 3 reasoning + GSM8K, deterministic
        "zero_shot_receiver": 8,
        "few_shot_sender": 9,  # SST-2, AG News, TREC x 3 seeds
        "few_shot_receiver": 9,
        "text_relay": 7,
        "prompt_tuning_control": 9,
        "prompt_tuning": 9,
        "lora": 3,  # SST-2 x 3 seeds (§5.7 Era B)
        "noise": 1,
        "probe": 0,  # an Era-D baseline
    }
    assert {m: _count(grid, m) for m in expected} == expected
    assert {run.mode for run in grid.latency.values()} == {"trained", "random_weights"}


def test_baselines_take_the_bridge_s_settings_and_eval_list():
    grid = expand_grid(_config())
    trec_pt = grid.baselines[("prompt_tuning", "paper", "trec", "123")]
    assert (trec_pt.soft_tokens, trec_pt.source_layer) == (16, 31)
    assert trec_pt.config.steps == 2000 and trec_pt.config.lr == 1.0e-4
    few = grid.baselines[("few_shot_receiver", "paper", "trec", "42")]
    assert few.options == {"shots": 6}  # k >= 6 classes, never 5 // 6 = 0 (pitfall 11)
    assert few.settings["eval_first_n"] == 200  # the bridge's first 200, not the zero-shot 500
    sst2 = grid.baselines[("few_shot_receiver", "paper", "sst2", "42")]
    assert sst2.options == {"shots": 5}


def test_deterministic_baselines_run_once_unless_seeds_are_named():
    grid = expand_grid(_config("corrected"))
    assert {b.seed for b in grid.baselines.values() if b.method == "zero_shot_sender"} == {42}
    assert {b.seed for b in grid.baselines.values() if b.method == "lora"} == {42, 123, 456}


def test_corrected_grid_runs_every_baseline_that_applies_on_all_nine_datasets():
    grid = expand_grid(_config("corrected"))
    datasets = {"sst2", "agnews", "trec", "banking77", "boolq", "piqa", "commonsenseqa"}
    assert {b.dataset for b in grid.baselines.values() if b.method == "probe"} == datasets
    every = datasets | {"gsm8k", "passkey"}
    assert {b.dataset for b in grid.baselines.values() if b.method == "noise"} == every
    assert {r.dataset for r in grid.runs.values()} == every


def test_restricting_datasets_and_seeds_restricts_everything():
    grid = expand_grid(_config(datasets=["trec"], seeds=["123"]))
    assert {r.dataset for r in grid.runs.values()} == {"trec"}
    assert {b.seed for b in grid.baselines.values()} == {123}
    assert grid.latency == {}  # the SST-2 bridge it times is not in the restricted grid


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"baselines": {"probe": {"datasets": ["gsm8k"]}}}, "probe cannot run on gsm8k"),
        ({"baselines": {"lora": {"datasets": ["mnli"]}}}, "'mnli'"),
        (
            {"ablations": [{"study": "soft_tokens", "dataset": "synth_topic", "soft_tokens": [4]}]},
            "no main entry",
        ),
        (
            {"latency": [{"dataset": "sst2", "soft_tokens": 12, "seed": 42}]},
            "no runs or ablations entry",
        ),
    ],
)
def test_bad_entries_fail_while_planning_and_name_the_value(change, message):
    config = _config()
    config["grids"]["dec2025"].update(change)
    with pytest.raises((GridError, ValueError), match=message):
        expand_grid(config)


def test_a_null_section_or_method_is_switched_off():
    config = _config()
    grid = config["grids"]["dec2025"]
    grid.update(ablations=None, latency=None)
    grid["baselines"]["lora"] = None
    expanded = expand_grid(config)
    assert len(expanded.runs) == 21 and expanded.latency == {}
    assert _count(expanded, "lora") == 0 and _count(expanded, "noise") == 1


def test_importing_the_grid_loads_no_torch():
    # common.smk imports telepathy.grid on every Snakemake start: torch (or the report's pandas
    # and matplotlib) would add seconds to each dry run (the paper grid's stays ~2 s)
    heavy = "{'torch', 'pandas', 'matplotlib'}"
    code = f"import sys, telepathy.grid; print(sorted({heavy} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_the_one_list_of_methods_is_the_one_the_resolvers_and_the_cli_know():
    from telepathy.baselines.prompting_config import METHODS

    assert tuple(METHODS) == PROMPTING_METHODS
    assert set(BASELINE_METHODS) == {*PROMPTING_METHODS, *TRAINED_METHODS, "noise", "probe"}


# config.yaml's dec2025 grid passes these to every run as --set overrides; where it differs from
# the preset on purpose, the difference is named here with config.yaml's reason.
DEC2025_GRID_DIFFERS = {
    ("piqa", "eval_first_n"): 500,  # "PIQA on 500" (§10.1)
    ("gsm8k", "steps"): 2500,  # 2,000 items x 5 epochs at batch 4 (§5.8)
    ("gsm8k", "batch_size"): 4,
}


def test_dec2025_grid_and_preset_agree_on_every_setting_both_state():
    grid_runs = PAPER["grids"]["dec2025"]["runs"]
    assert {entry["dataset"] for entry in grid_runs} == set(DEC2025_DATASETS)
    differences = {}
    for entry in grid_runs:
        preset = DEC2025_DATASETS[entry["dataset"]]
        stated = {key: entry[key] for key in SETTING_KEYS if key in entry}
        stated["soft_tokens"] = entry["soft_tokens"][0]  # the main K; the rest are a sweep
        stated["source_layer"] = entry["source_layers"][0]
        for key, value in stated.items():
            if getattr(preset, key) != value:
                differences[(entry["dataset"], key)] = value
    assert differences == DEC2025_GRID_DIFFERS


def test_runtimes_follow_the_steps_and_the_method():
    grid = expand_grid(_config())
    main = grid.runs[("paper", "sst2", "perceiver", "8", "16", "42")]
    assert training_minutes(main.config) == 20 + 20  # 2000 steps x 2 accumulation at 10/s, x3
    by_method = {
        b.method: baseline_minutes(b) for b in grid.baselines.values() if b.dataset == "sst2"
    }
    assert by_method["prompt_tuning"] == by_method["lora"] == 40 + 30
    assert by_method["text_relay"] == 90
    assert by_method["zero_shot_sender"] == by_method["noise"] == 60


def test_the_sender_cache_is_one_file_per_dataset_layer_and_split_shared_by_every_bridge():
    config = _config()
    config["grids"]["dec2025"]["sender_cache"] = True
    grid = expand_grid(config)
    from telepathy.grid import evaluation_cache_paths, training_cache_paths

    sst2 = [r for r in grid.runs.values() if r.dataset == "sst2"]
    reads = {r.key: training_cache_paths(grid, "dec2025", r) for r in sst2}
    main = [r for r in sst2 if r.source_layer == 16 and r.architecture == "perceiver"]
    # seeds, K values and the main point share the layer-16 train cache
    assert len({reads[r.key]["train"] for r in main}) == 1 and len(main) >= 3
    layers = {r.source_layer for r in sst2}
    train_files = {reads[r.key]["train"] for r in sst2}
    assert len(train_files) == len(layers)  # one train cache per source layer, K/arch/seed aside
    for path in train_files:
        assert path.startswith("results/dec2025/sender_states/paper/sst2/l")
    # the quick evals read the eval list's states, framed as in training; the evaluation reads
    # them framed for evaluation: the same file where both framings agree
    for run in sst2:
        assert set(reads[run.key]) == ({"train", "eval"} if run.config.eval_every else {"train"})
        evaluation = evaluation_cache_paths(grid, "dec2025", run)
        assert set(evaluation) == {"eval"}
        assert evaluation["eval"].startswith(
            f"results/dec2025/sender_states/paper/sst2/l{run.source_layer}/eval-"
        )
        if run.config.eval_every and run.config.char_limit("train") == run.config.char_limit(
            "eval"
        ):
            assert evaluation["eval"] == reads[run.key]["eval"]
    without_quick_evals = _config(settings={"eval_every": 0})
    without_quick_evals["grids"]["dec2025"]["sender_cache"] = True
    grid = expand_grid(without_quick_evals)
    run = next(r for r in grid.runs.values() if r.dataset == "sst2")
    assert set(training_cache_paths(grid, "dec2025", run)) == {"train"}


def test_without_the_setting_there_is_no_sender_cache():
    grid = expand_grid(_config())
    assert not grid.sender_cache and grid.sender_caches == {} and grid.training_caches == {}
    assert grid.evaluation_caches == {}
