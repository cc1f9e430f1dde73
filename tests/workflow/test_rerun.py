"""What the workflow reruns: only the missing runs, nothing for a results tree finished before
a refactor, and exactly the products that read a changed result."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest
from workflow_runner import PROFILE, REPO, config_in, job_counts, snakemake

TINY_CONFIG = REPO / "tests" / "workflow" / "config.yaml"
BASELINES_CONFIG = REPO / "tests" / "workflow" / "baselines.yaml"
# baselines.yaml's results as commit 0810359 left them (tests/fixtures/finished_tree/README.md)
FINISHED_TREE = REPO / "tests" / "fixtures" / "finished_tree" / "baselines_0810359.tar.xz"


def _result_dirs(root: Path, seed: int) -> list[Path]:
    run = Path("corrected/{stage}/tiny/trec/perceiver/k4/l2") / f"seed{seed}"
    return [root / "results" / str(run).format(stage=s) for s in ("train", "eval")]


def tiny_config(tmp_path: Path) -> Path:
    """The tiny test config with its fixture paths made absolute for a run in tmp_path."""
    return config_in(tmp_path, TINY_CONFIG)


@pytest.mark.slow
def test_only_missing_runs_are_rerun(tmp_path, model_cache):
    base = ("--configfile", str(tiny_config(tmp_path)), "--profile", str(PROFILE))
    first = snakemake(*base, "all_paper_tables", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-4000:]
    table = (tmp_path / "results" / "corrected" / "runs.csv").read_text()
    assert table.count(",complete,") == 3

    for seed in (123, 456):  # two TREC seeds lost
        for folder in _result_dirs(tmp_path, seed):
            shutil.rmtree(folder)
    # while they are missing, the tables can be built from what exists: the missing runs are
    # named in the listing, the log and the table, and never averaged over
    partial = snakemake(*base, "all_paper_tables", "--config", "allow_missing=true", cwd=tmp_path)
    assert partial.returncode == 0, partial.stderr[-4000:]
    gone = [f"bridge/corrected/tiny/trec/perceiver/k4/l2/seed{seed}" for seed in (123, 456)]
    listing = (tmp_path / "results" / "corrected" / "missing_runs.txt").read_text()
    log = (tmp_path / "logs" / "merge_runs" / "corrected.log").read_text()
    main_table = (tmp_path / "results" / "corrected" / "tables" / "table1_main.txt").read_text()
    for run_id in gone:
        assert run_id in listing and f"missing run: {run_id}" in log and run_id in main_table
    assert "train_bridge" not in partial.stderr  # nothing was run to fill them in

    plan = snakemake(*base, "-n", "all_paper_tables", cwd=tmp_path)
    # the two runs, the merge of their dataset, and what reads it: every table and the
    # training curves; not the figures of the seed-42 bridge's soft tokens
    assert job_counts(plan.stdout + plan.stderr) == {
        "train_bridge": 2,
        "evaluate_bridge": 2,
        "merge_dataset": 1,
        "merge_runs": 1,
        "paper_table": 6,
        "paper_figure": 1,
        "tables_document": 1,
        "all_paper_tables": 1,
    }
    for seed in (123, 456):
        assert f"seed={seed}" in plan.stdout
    assert "seed=42" not in plan.stdout  # not one other training job
    assert "name=training_curves" in plan.stdout and "name=attention_maps" not in plan.stdout

    second = snakemake(*base, "all_paper_tables", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-4000:]
    assert second.stderr.count("rule train_bridge:") == 2
    again = snakemake(*base, "-n", "all_paper_tables", cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr

    # an edit that leaves every run's resolved settings alone retriggers nothing ...
    same = snakemake(*base, "-n", "all_paper_tables", "--config", "datasets=[trec]", cwd=tmp_path)
    assert "Nothing to be done" in same.stdout + same.stderr
    # ... one that changes them retrains every run it touches
    changed = snakemake(
        *base,
        "-n",
        "all_paper_tables",
        "--config",
        "settings={eval_every: 0, lr: 0.002}",
        cwd=tmp_path,
    )
    assert job_counts(changed.stdout + changed.stderr)["train_bridge"] == 3


def _finished_tree(tmp_path: Path) -> Path:
    """FINISHED_TREE unpacked in tmp_path, every file with its recorded mtime."""
    with tarfile.open(FINISHED_TREE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path


def _plan_finished(workdir: Path) -> str:
    """A dry run of baselines.yaml's grid under Snakemake's default rerun triggers (code, params,
    input, mtime, software stack; not the local profile's narrower list)."""
    proc = snakemake("-n", "all_paper_tables", "--configfile", str(BASELINES_CONFIG), cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_a_tree_finished_before_the_package_layout_has_nothing_to_do(tmp_path):
    plan = _plan_finished(_finished_tree(tmp_path))
    assert "Nothing to be done" in plan, plan[-3000:]


def _rewrite(path: Path) -> None:
    """A new version of a result: other bytes and a later mtime (Snakemake reruns nothing for
    a file that is only touched, its checksum being the one recorded)."""
    later = path.stat().st_mtime + 3600
    path.write_text(path.read_text() + "\n")
    os.utime(path, (later, later))


def test_a_changed_result_reruns_exactly_the_products_that_read_it(tmp_path):
    results = _finished_tree(tmp_path) / "results" / "corrected"
    run = "tiny/trec/perceiver/k4/l2/seed42"
    # a latency result: the latency table and figure, nothing else
    _rewrite(results / f"latency/{run}/trained.json")
    assert job_counts(_plan_finished(tmp_path)) == {
        "paper_table": 1,
        "paper_figure": 1,
        "tables_document": 1,
        "all_paper_tables": 1,
    }
    # an eval JSON: its dataset's merge, and every table and figure that reads the merged
    # table (which carries the eval's numbers and path; here all but the latency ones, the
    # grid having one dataset)
    _rewrite(results / "baselines/lora/tiny/trec/seed42/eval.json")
    assert job_counts(_plan_finished(tmp_path)) == {
        "merge_dataset": 1,
        "merge_runs": 1,
        "paper_table": 10,
        "paper_figure": 3,  # token ablation, training curves, latency breakdown
        "tables_document": 1,
        "all_paper_tables": 1,
    }
