"""The Snakemake workflow: the paper grid's dry run, config validation, every job end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import network_attempts, network_blocked_env
from workflow_runner import PROFILE, REPO, config_in, job_counts, snakemake

PAPER_CONFIG = REPO / "config.yaml"
OFFLINE_CONFIG = REPO / "tests" / "workflow" / "offline.yaml"


def paper_dry_run(cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`snakemake -n all_paper_tables` on the paper grid, and how long it took (s)."""
    started = time.perf_counter()
    proc = snakemake("-n", "all_paper_tables", "--configfile", str(PAPER_CONFIG), cwd=cwd)
    return proc, time.perf_counter() - started


def test_paper_grid_dry_run_matches_method_md(tmp_path):
    proc, _ = paper_dry_run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # method.md §2.4/§10.1: SST-2, AG News, TREC x 3 seeds; Banking77 and Passkey x K 16/32/64/
    # 128; BoolQ, PIQA, CSQA, GSM8K once; SST-2 ablations K 4/16/32/64, layers 20/24/28/31,
    # linear and MLP bridges (their K 8 / layer 16 / Perceiver point is the main seed-42 run).
    # Baselines as Era B ran them (§5, §10.1), plus prompt tuning with the text (§5.5).
    assert job_counts(proc.stdout + proc.stderr) == {
        "prepare_models": 1,
        "prepare_dataset": 9,
        "train_bridge": 31,
        "evaluate_bridge": 31,
        "baseline_zero_shot_sender": 8,
        "baseline_zero_shot_receiver": 8,
        "baseline_few_shot_sender": 9,
        "baseline_few_shot_receiver": 9,
        "baseline_text_relay": 7,
        "baseline_prompt_tuning_control": 9,
        "baseline_prompt_tuning": 9,
        "baseline_lora": 3,
        "baseline_noise": 1,
        "benchmark_latency": 2,
        "inspect_bridge": 4,  # one bridge per classification dataset, for the figures
        "merge_dataset": 9,
        "merge_runs": 1,
        "paper_table": 13,  # Tables 1-5 (4b: two batch sizes), 2 ablations, appendix, cost,
        "paper_figure": 5,  # invalid rates, 2 paper comparisons; 5 figures
        "tables_document": 1,
        "all_paper_tables": 1,
    }


@pytest.mark.timing
def test_paper_grid_dry_run_is_quick(tmp_path):
    proc, elapsed = paper_dry_run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"paper dry run: {elapsed:.2f} s")
    assert elapsed < 10  # 1.2-1.5 s measured here; the budget is 2 s, generous for slow machines


def test_one_key_switches_protocol_and_paths(tmp_path):
    proc = snakemake(
        "-n",
        "all_paper_tables",
        "--configfile",
        str(PAPER_CONFIG),
        "--config",
        "protocol=camera_ready",
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts["train_bridge"] == 12  # 3 datasets x K 8, 32 x seeds 42, 456
    # §10.2's baselines: zero-shot and relay once, PT control and LoRA per seed, the probe once
    assert counts["baseline_prompt_tuning_control"] == 6 and counts["baseline_probe"] == 3
    assert "results/camera_ready/train/paper/trec/perceiver/k32/l31/seed456/bridge.pt" in out
    assert "results/dec2025/" not in out  # protocols never share paths


def test_restricting_the_grid_from_the_command_line(tmp_path):
    proc = snakemake(
        "-n",
        "--configfile",
        str(PAPER_CONFIG),
        "--config",
        "datasets=[trec]",
        "seeds=[42,123]",
        cwd=tmp_path,
    )
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["train_bridge"] == 2 and counts["prepare_dataset"] == 1


BAD_CONFIGS = [
    ({"colour": "red"}, "colour"),
    ({"protocol": "jan2026"}, "jan2026"),
    ({"pairs": "paper"}, "pairs"),
    ({"pairs": ["gpt5"]}, "gpt5"),
    ({"seeds": [-1]}, "-1"),
    (
        {"grids": {"dec2025": {"seeds": [42], "runs": [{"dataset": "sst2", "soft_tokens": [0]}]}}},
        "soft_tokens",
    ),
    (
        {
            "grids": {
                "dec2025": {
                    "seeds": [42],
                    "runs": [{"dataset": "sst2", "soft_tokens": [8], "steps": "many"}],
                }
            }
        },
        "steps",
    ),
    (
        {
            "grids": {
                "dec2025": {
                    "seeds": [42],
                    "runs": [{"dataset": "sst2", "soft_tokens": [8], "lr": 0}],
                }
            }
        },
        "lr",
    ),
    (
        {
            "grids": {
                "dec2025": {
                    "seeds": [42],
                    "runs": [{"dataset": "sst2", "soft_tokens": [8], "temperature": 1}],
                }
            }
        },
        "temperature",
    ),
    (
        {
            "grids": {
                "dec2025": {"seeds": [42], "runs": [{"dataset": "imagenet", "soft_tokens": [8]}]}
            }
        },
        "imagenet",
    ),
    (
        {
            "grids": {
                "dec2025": {
                    "seeds": [42],
                    "runs": [{"dataset": "sst2", "soft_tokens": [8], "source_layers": [40]}],
                }
            }
        },
        "source_layers",
    ),
    ({"datasets": ["mnist"]}, "mnist"),
    ({"settings": {"colour": "red"}}, "colour"),
    (
        {
            "grids": {
                "dec2025": {
                    "seeds": [42],
                    "runs": [{"dataset": "sst2", "soft_tokens": [8], "eval_first_n": 0}],
                }
            }
        },
        "eval_first_n",
    ),
]


@pytest.mark.parametrize(("overlay", "named"), BAD_CONFIGS)
def test_malformed_config_is_rejected_before_planning(tmp_path, overlay, named):
    config = yaml.safe_load(PAPER_CONFIG.read_text())
    config.update({k: v for k, v in overlay.items() if k != "grids"})
    config["grids"].update(overlay.get("grids", {}))
    overlay_file = tmp_path / "bad.yaml"
    overlay_file.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--configfile", str(overlay_file), cwd=tmp_path)
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr
    assert "train_bridge" not in proc.stdout  # nothing was planned


@pytest.mark.slow
def test_every_baseline_ablation_and_benchmark_runs_end_to_end(tmp_path, model_cache):
    config = config_in(tmp_path, REPO / "tests" / "workflow" / "baselines.yaml")
    base = ("--configfile", str(config), "--profile", str(PROFILE), "--max-threads", "1")
    run = snakemake(*base, "all_paper_tables", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results" / "corrected" / "runs.csv")
    assert set(table["status"]) == {"complete"}, table[["run_id", "status"]]
    methods = {
        "bridge", "zero_shot_sender", "zero_shot_receiver", "few_shot_sender",
        "few_shot_receiver", "text_relay", "prompt_tuning_control", "prompt_tuning", "lora",
        "noise", "probe",
    }  # fmt: skip
    assert set(table["method"]) == methods
    bridges = table[table["method"] == "bridge"]
    assert sorted(bridges["architecture"]) == ["linear", "mlp", "perceiver", "perceiver"]
    shared = bridges[(bridges["architecture"] == "perceiver") & (bridges["soft_tokens"] == 4)]
    assert list(shared["studies"]) == ["main+soft_tokens+architecture"]  # trained once
    # every result file is valid against the shipped schema, and every sample is kept
    results = sorted((tmp_path / "results" / "corrected").glob("**/eval.json"))
    assert len(results) == len(table)
    check = subprocess.run(
        [sys.executable, "-m", "telepathy", "validate-results", *map(str, results)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert set(table["n_examples"].dropna()) <= {7, 8}  # one eval list (the probe: 7 labelled)
    latency = json.loads(
        next((tmp_path / "results" / "corrected" / "latency").glob("**/trained.json")).read_text()
    )
    assert latency["mode"]["weights"] == "trained_checkpoint"
    assert {r["batch_size"] for r in latency["ratios"]} == {1}

    # every table and figure of the grid, and every table compiles with pdflatex
    results = tmp_path / "results" / "corrected"
    tables = sorted(p.stem for p in (results / "tables").glob("*.tex"))
    assert tables == [
        "ablation_architecture", "appendix_seeds", "invalid_rates", "paper_comparison_camera_ready",
        "paper_comparison_dec2025", "table1_main", "table3_baselines", "table4_latency",
        "table5_soft_tokens", "training_cost",
    ]  # fmt: skip
    figures = sorted(p.name for p in (results / "figures").iterdir())
    assert figures == [
        f"{name}.{ext}"
        for name in ("attention_maps", "latency_breakdown", "soft_token_projection",
                     "token_ablation", "training_curves")
        for ext in ("pdf", "png")
    ]  # fmt: skip
    if shutil.which("pdflatex") or os.environ.get("TELEPATHY_REQUIRE_LATEX") == "1":
        pdf = snakemake(*base, "paper_tables_pdf", cwd=tmp_path)
        assert pdf.returncode == 0, pdf.stderr[-4000:]
        assert (results / "paper_tables.pdf").read_bytes().startswith(b"%PDF")
    report = snakemake(*base, "--report", "report.html", "all_paper_tables", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-4000:]
    html = (tmp_path / "report.html").read_text()
    assert "table1_main" in html and "soft_token_projection" in html

    # a lost baseline result reruns that baseline, its dataset's merge and what reads it
    (results / "baselines/lora/tiny/trec/seed42/eval.json").unlink()
    plan = snakemake(*base, "-n", "all_paper_tables", cwd=tmp_path)
    assert job_counts(plan.stdout + plan.stderr) == {
        "baseline_lora": 1,
        "merge_dataset": 1,
        "merge_runs": 1,
        "paper_table": 9,  # all but the latency table
        "paper_figure": 2,  # token ablation, training curves
        "tables_document": 1,
        "all_paper_tables": 1,
    }


@pytest.mark.slow
def test_every_dataset_runs_end_to_end(tmp_path, model_cache):
    config = config_in(tmp_path, REPO / "tests" / "workflow" / "all_datasets.yaml")
    # one thread per job, so the local profile's 2 cores run two of these short jobs at once;
    # under warm-start, as `make demo` runs: every job but the preparations forked warm
    run = snakemake(
        *("--configfile", str(config), "--profile", str(PROFILE), "--max-threads", "1"),
        "all_paper_tables",
        cwd=tmp_path,
        warm=True,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    served = re.search(r"served (\d+) jobs, (\d+) ran cold", run.stderr)
    assert served and int(served[1]) > 50, run.stderr[-2000:]
    print(served[0])
    table = pd.read_csv(tmp_path / "results" / "corrected" / "runs.csv")
    assert set(table["status"]) == {"complete"}, table[["run_id", "status"]]
    nine = {"sst2", "agnews", "trec", "banking77", "boolq", "piqa", "commonsenseqa", "gsm8k"}
    nine.add("passkey")
    by_method = table.groupby("method")["dataset"].agg(set).to_dict()
    assert by_method["bridge"] == by_method["zero_shot_receiver"] == nine
    assert by_method["text_relay"] == nine
    assert by_method["probe"] == nine - {"gsm8k", "passkey"}  # no class labels to fit
    passkey = table[(table["method"] == "bridge") & (table["dataset"] == "passkey")]
    assert passkey["digit_accuracy"].notna().all()


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.slow
def test_the_tiny_workflow_runs_from_snapshots_with_the_network_blocked(tmp_path, model_cache):
    """Train, eval, a prompting baseline, the merges and the tables, as on a GPU node without
    a route out: nothing even tries the network, and the hub caches stay empty."""
    workdir = tmp_path / "offline"
    workdir.mkdir()
    base = ("--configfile", str(config_in(workdir, OFFLINE_CONFIG)), "--profile", str(PROFILE))
    run = snakemake(*base, "all_paper_tables", cwd=workdir, env=network_blocked_env(tmp_path))
    assert run.returncode == 0, run.stderr[-4000:]
    assert network_attempts(tmp_path) == []  # not one attempt, by any process
    assert _tree(tmp_path / "hf_home") == _tree(tmp_path / "hf_datasets") == []
    results = workdir / "results" / "corrected"
    table = pd.read_csv(results / "runs.csv")
    assert sorted(table["method"]) == ["bridge", "zero_shot_receiver"]
    assert set(table["status"]) == {"complete"}
    assert (results / "tables" / "table1_main.tex").exists()
    snapshot = json.loads((workdir / "results/data/trec/snapshot.json").read_text())
    for path in results.glob("**/*.json"):
        if path.parent.name == "tables" or "latency" in path.parts:
            continue
        record = json.loads(path.read_text())
        data = record["provenance"]["data"]  # every result names the snapshot it read
        assert data["snapshot"] == "results/data/trec" and data["source"] == "local", path
        assert data["dataset"] == "trec" and snapshot["dataset"] == "trec"

    # The same run fails when a job resolves anything on the hub: here prepare_dataset is
    # pointed at the repo id (no local copy), and the blocked network stops it.
    online = tmp_path / "online"
    online.mkdir()
    config = yaml.safe_load(config_in(online, OFFLINE_CONFIG).read_text())
    del config["local_data"]
    (online / "offline.yaml").write_text(yaml.safe_dump(config))
    base = ("--configfile", str(online / "offline.yaml"), "--profile", str(PROFILE))
    failed = snakemake(*base, "all_paper_tables", cwd=online, env=network_blocked_env(tmp_path))
    assert failed.returncode != 0
    log = (online / "logs/prepare_dataset/trec.log").read_text()
    assert "could not read CogComp/trec@refs/convert/parquet" in log, log[-2000:]
    assert any("huggingface.co" in line for line in network_attempts(tmp_path))
    assert not (online / "results/corrected/runs.csv").exists()


@pytest.mark.slow
def test_the_sender_cache_gives_the_accuracies_of_the_live_sender(tmp_path, model_cache):
    """The tiny grid twice (two seeds, up to the merged table), with `sender_cache: true` and
    without: one cache job serves both seeds' training and one their evaluations, no training
    or evaluation job loads the sender, and every result is the same."""
    tables = {}
    for cached in (False, True):
        workdir = tmp_path / ("cached" if cached else "live")
        workdir.mkdir()
        config = yaml.safe_load(config_in(workdir, REPO / "tests/workflow/config.yaml").read_text())
        config["grids"]["corrected"].update(sender_cache=cached, seeds=[42, 123])
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        base = ("--configfile", str(workdir / "config.yaml"), "--profile", str(PROFILE))
        run = snakemake(*base, "results/corrected/runs.csv", cwd=workdir)
        assert run.returncode == 0, run.stderr[-4000:]
        # the train split, and the eval list that every evaluation reads
        assert run.stderr.count("rule cache_sender_states:") == (2 if cached else 0)
        results = workdir / "results" / "corrected"
        tables[cached] = pd.read_csv(results / "runs.csv").set_index("run_id")
        records = [*results.glob("train/**/train.json"), *results.glob("eval/**/eval.json")]
        assert len(records) == 4
        for record in records:
            loaded = json.loads(record.read_text())["timings"]["sender_load_s"]
            assert (loaded < 0.5) if cached else (loaded > 0), (record, loaded)
    columns = ["accuracy", "n_correct", "final_loss"]
    pd.testing.assert_frame_equal(tables[True][columns], tables[False][columns])
