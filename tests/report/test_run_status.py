"""telepathy status, the pure part (report/run_status.py): a run's state from its result files,
the plugin's submissions and one SLURM answer; counts per table and dataset; GPU-hours used,
asked and planned; the time left from measured durations and step rates. On the real cluster:
tests/slurm/test_status_on_slurm.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from snakemake_executor_plugin_submitit.accounting import parse_sacct
from snakemake_executor_plugin_submitit.states import expand_job_id
from telepathy.grid import expand_grid, run_result_paths
from telepathy.report.run_status import (
    SlurmJob,
    Submitted,
    format_status,
    grid_units,
    remaining_seconds,
    slurm_jobs_from_sacct,
    summarise_status,
)
from telepathy.report.status_sources import _config_files, local_rules

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())


@pytest.fixture
def grid():
    config = copy.deepcopy(TINY)
    config["grids"]["corrected"]["seeds"] = [1, 2, 3, 4]
    return expand_grid(config)


def _runs(grid):
    return [run_result_paths("corrected", grid.runs[k]) for k in sorted(grid.runs)]


def _train(slurm_id, paths, at=1.0, minutes=30):
    return Submitted(slurm_id, "train_bridge", (paths[0],), minutes, 1, at)


def test_each_run_counts_once_per_table_and_dataset_in_its_one_state(grid):
    (done_t, done_e), running, pending, failed = _runs(grid)
    exists = {done_t, done_e}.__contains__
    submissions = [
        _train("10_0", done_t),
        Submitted("11", "evaluate_bridge", (done_e,), 30, 1, 2.0),
        _train("12_0", running),
        _train("12_1", pending),
        _train("12_2", failed),
    ]
    jobs = {
        "10_0": SlurmJob("10_0", "COMPLETED", 600, 600 / 3600),
        "11": SlurmJob("11", "COMPLETED", 60, 60 / 3600),
        "12_0": SlurmJob("12_0", "RUNNING", 120, 120 / 3600),
        "12_1": SlurmJob("12_1", "PENDING"),
        "12_2": SlurmJob("12_2", "CANCELLED", 30, 30 / 3600),
    }
    gpu_job = {"resources": {"runtime": "30", "gpu": "1"}}
    left = (running, pending, failed)
    remaining = [
        *({**gpu_job, "rule": "train_bridge", "outputs": [p[0]]} for p in left),
        *({**gpu_job, "rule": "evaluate_bridge", "outputs": [p[1]]} for p in left),
        {"rule": "paper_table", "local": True, "outputs": ["t"], "resources": {"runtime": "10"}},
    ]
    status = summarise_status(grid, "corrected", exists, submissions, jobs, remaining, {}, "sacct")

    assert status["by_state"] == {"done": 1, "running": 1, "pending": 1, "failed": 1}
    (trec,) = status["by_dataset"]
    assert trec == {
        "dataset": "trec",
        "runs": 4,
        "done": 1,
        "running": 1,
        "pending": 1,
        "failed": 1,
        "not submitted": 0,
    }
    table1 = next(r for r in status["by_table"] if r["table"] == "table1_main")
    assert (table1["runs"], table1["done"], table1["failed"]) == (4, 1, 1)
    # used: every job's time x GPUs; asked: the queued and running jobs' limits
    assert status["gpu_hours_used"] == pytest.approx((600 + 60 + 120 + 30) / 3600)
    assert status["gpu_hours_requested_active"] == pytest.approx(2 * 0.5)
    # planned: the failed training (to resubmit) and three evaluations; never the local rule
    assert status["jobs_not_submitted"] == 4
    assert status["gpu_hours_planned_unsubmitted"] == pytest.approx(4 * 0.5)
    assert (status["jobs_running"], status["jobs_queued"]) == (1, 1)
    text = format_status(status)
    assert "4 runs: 1 done, 1 running, 1 pending, 1 failed, 0 not submitted" in text
    assert "SLURM queries: 1 (sacct)" in text


def test_a_bridge_whose_training_finished_waits_for_its_evaluation(grid):
    paths = _runs(grid)[0]
    status = summarise_status(
        grid,
        "corrected",
        {paths[0]}.__contains__,
        [_train("5_0", paths)],
        {"5_0": SlurmJob("5_0", "COMPLETED")},
        [],
        {},
        "sacct",
    )
    assert status["run_states"][next(iter(status["run_states"]))] == "not submitted"
    assert status["by_state"] == {"not submitted": 4}


def test_a_newer_submission_of_the_same_output_decides_and_lagging_accounting_is_pending(grid):
    paths = _runs(grid)[0]
    old, new = _train("7_0", paths, at=1.0), _train("9", paths, at=5.0)
    jobs = {"7_0": SlurmJob("7_0", "FAILED")}  # 9 not in sacct yet: just submitted
    status = summarise_status(grid, "corrected", lambda p: False, [new, old], jobs, [], {}, "x")
    assert status["by_state"]["pending"] == 1


def test_requeued_segments_add_up_and_a_pending_array_counts_for_each_task():
    text = "\n".join(
        [
            "20|20|train_bridge|gpu|REQUEUED|0:0|100|cpu=1,gres/gpu:h100=1,gres/gpu=1|s|e",
            "20|20|train_bridge|gpu|RUNNING|0:0|50|cpu=1,gres/gpu:h100=1,gres/gpu=1|s|e",
            "21|21_[1-2]|evaluate_bridge|gpu|PENDING|0:0|0||Unknown|Unknown",
        ]
    )
    jobs = slurm_jobs_from_sacct(parse_sacct(text), expand_job_id)
    assert jobs["20"] == SlurmJob("20", "RUNNING", 150, pytest.approx(150 / 3600))
    assert jobs["21_1"].state == jobs["21_2"].state == "PENDING"


def test_time_left_comes_from_step_rates_then_finished_jobs_then_requests():
    todo = [("train_bridge", 100, "1"), ("train_bridge", 0, ""), ("evaluate_bridge", 0, "")]
    left, basis = remaining_seconds(
        todo, {"train_bridge": [300, 500]}, {"evaluate_bridge": 1800}, {"1": 42.0}
    )
    assert left == pytest.approx(42.0 + 400 + 1800)
    assert basis == {
        "train_bridge": "measured step rate and mean of 2 finished job(s)",
        "evaluate_bridge": "requested time",
    }


def test_every_run_of_the_grid_is_a_unit_with_the_tables_that_show_it(grid):
    units = grid_units(grid, "corrected")
    assert len(units) == len(grid.runs) + len(grid.baselines) + len(grid.latency)
    assert all("table1_main" in u.tables for u in units if u.run in grid.runs.values())


def test_the_sources_read_config_files_and_local_rules():
    args = ["all_paper_tables", "--configfile", "a.yaml", "b.yml", "-j", "4"]
    assert _config_files(args) == [Path("a.yaml"), Path("b.yml")]
    assert {"all", "paper_table", "merge_runs"} <= local_rules(REPO / "Snakefile")
    assert "train_bridge" not in local_rules(REPO / "Snakefile")


def test_status_leaves_out_an_older_job_of_the_same_id(monkeypatch):
    """sacct --duplicates after a controller's state was reset: job 31 of last week and ours."""
    import time

    from snakemake_executor_plugin_submitit import accounting
    from telepathy.report.status_sources import query_slurm

    tres = "cpu=1,gres/gpu=1"
    answer = (
        f"31|31|train_bridge|gpu|COMPLETED|0:0|7200|{tres}|2026-11-30T08:00:00|2026-11-30T10:00:00\n"
        f"31|31|train_bridge|gpu|RUNNING|0:0|600|{tres}|2026-12-07T12:00:10|Unknown\n"
    )
    asked = []
    monkeypatch.setattr(accounting, "run_sacct", lambda ids, start: asked.append(start) or answer)
    submitted = time.mktime(time.strptime("2026-12-07T12:00:00", "%Y-%m-%dT%H:%M:%S"))
    jobs, query = query_slurm(["31"], {"31": submitted}, {"31": 1})
    assert query == "sacct" and asked == ["2026-12-07T11:59:00"]
    assert jobs["31"] == SlurmJob("31", "RUNNING", 600, 600 / 3600)


def test_status_asks_squeue_once_when_sacct_fails(monkeypatch):
    from snakemake_executor_plugin_submitit import accounting, cluster
    from telepathy.report.status_sources import query_slurm

    def sacct_down(ids, start):
        raise RuntimeError("slurmdbd not responding")

    calls = []

    def squeue(command):
        calls.append(command)
        return "31|RUNNING|1:00:00|None\n32_[0-1]|PENDING|0:00|Priority\n"

    monkeypatch.setattr(accounting, "run_sacct", sacct_down)
    monkeypatch.setattr(cluster, "run_command", squeue)
    submitted = {"31": 0.0, "32_0": 0.0, "32_1": 0.0}
    jobs, query = query_slurm(["31", "32_0", "32_1"], submitted, {"31": 2, "32_0": 1})
    assert len(calls) == 1 and calls[0][0] == "squeue"
    assert jobs["31"] == SlurmJob("31", "RUNNING", 3600, 2.0)
    assert jobs["32_1"] == SlurmJob("32_1", "PENDING", 0, 0.0)
    assert query.startswith("squeue (sacct failed: slurmdbd not responding")
