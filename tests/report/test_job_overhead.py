"""The per-rule overhead table: job wall times from a Snakemake log (or a benchmark file), split
by the run JSON each job wrote."""

from __future__ import annotations

import json

import pytest

from telepathy.cli import main
from telepathy.report.job_overhead import (
    format_overhead,
    job_costs,
    overhead_by_rule,
    parse_snakemake_log,
)

# The shape of a Snakemake 9 log (and 8's "Finished job N." lines), two jobs overlapping.
LOG = """\
Building DAG of jobs...
Execute 2 jobs...
[Sun Dec  6 10:44:04 2026]
localrule train_bridge:
    input: results/models/small.json
    output: run/bridge.pt, run/train.json
    log: logs/train.log
    jobid: 7
    benchmark: benchmarks/train.tsv
    reason: Missing output files: run/train.json
Shell command: python -m telepathy train ...
[Sun Dec  6 10:44:05 2026]
rule paper_table:
    output: tables/t1.txt, tables/t1.tex
    jobid: 3
    reason: Missing output files
[Sun Dec  6 10:44:09 2026]
Finished job 3.
1 of 3 steps (33%) done
[Sun Dec  6 10:46:34 2026]
Finished jobid: 7 (Rule: train_bridge)
[Sun Dec  6 10:46:35 2026]
rule evaluate_bridge:
    output: run/eval.json
    jobid: 9
[Sun Dec  6 10:46:55 2026]
Finished jobid: 9 (Rule: evaluate_bridge)
[Sun Dec  6 10:46:56 2026]
rule never_finished:
    output: x.json
    jobid: 11
"""


def _tree(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "train.tsv").write_text("s\th:m:s\tmax_rss\n148.25\t0:02:28\t1600\n")
    (tmp_path / "run" / "train.json").write_text(
        json.dumps({"timings": {"wall_s": 141.0, "load_s": 6.0}})
    )
    (tmp_path / "run" / "eval.json").write_text(
        json.dumps({"timings": {"wall_s": 16.5, "load_s": 4.5}})
    )


def test_the_log_gives_each_finished_jobs_rule_outputs_and_times():
    jobs = parse_snakemake_log(LOG)
    assert [(j.jobid, j.rule) for j in jobs] == [
        ("7", "train_bridge"), ("3", "paper_table"), ("9", "evaluate_bridge")
    ]  # fmt: skip
    train, table, _ = jobs
    assert train.outputs == ["run/bridge.pt", "run/train.json"]
    assert train.benchmark == "benchmarks/train.tsv"
    assert (train.finished - train.started).total_seconds() == 150
    assert (table.finished - table.started).total_seconds() == 4


def test_each_rule_splits_into_work_loading_and_what_lies_outside_the_runs_clock(tmp_path):
    _tree(tmp_path)
    costs = job_costs(parse_snakemake_log(LOG), tmp_path)
    table = overhead_by_rule(costs).set_index("rule")
    train = table.loc["train_bridge"]  # the benchmark file's 148.25 s beats the log's 150
    assert train.wall_s == pytest.approx(148.25)
    assert (train.work_s, train.load_s) == pytest.approx((135.0, 6.0))
    assert train.outside_s == pytest.approx(7.25)
    assert train.overhead_s == pytest.approx(13.25)
    evaluate = table.loc["evaluate_bridge"]  # no benchmark file: the log's 20 s
    assert (evaluate.wall_s, evaluate.work_s, evaluate.outside_s) == pytest.approx((20, 12, 3.5))
    assert evaluate.overhead == pytest.approx(8 / 20)
    paper_table = table.loc["paper_table"]  # no run JSON: all of it is overhead
    assert paper_table.overhead_s == 4 and paper_table.overhead == 1.0
    assert list(table.index) == ["train_bridge", "evaluate_bridge", "paper_table"]
    text = format_overhead(overhead_by_rule(costs), costs, "the log")
    assert "all 3 jobs: 172 s of job time, 25 s (15%) outside the runs' work" in text


def test_job_overhead_command_reads_the_latest_log_and_writes_json(tmp_path, capsys):
    _tree(tmp_path)
    logs = tmp_path / ".snakemake" / "log"
    logs.mkdir(parents=True)
    (logs / "2026-12-05T100000.000000.snakemake.log").write_text("Building DAG of jobs...\n")
    (logs / "2026-12-06T104404.176473.snakemake.log").write_text(LOG)
    # a later call that ran nothing (`--report`, a dry run): skipped for the run's log
    (logs / "2026-12-06T111841.491365.snakemake.log").write_text("Nothing to be done.\n")
    out = tmp_path / "overhead.json"
    assert main(["job-overhead", "--workdir", str(tmp_path), "--json", str(out)]) == 0
    assert "train_bridge" in capsys.readouterr().out
    jobs = json.loads(out.read_text())["jobs"]
    assert len(jobs) == 3 and jobs[1]["work_s"] is None  # the table job has no split


def test_a_log_without_finished_jobs_is_refused_by_name(tmp_path, caplog):
    log = tmp_path / "empty.snakemake.log"
    log.write_text("Building DAG of jobs...\nNothing to be done.\n")
    assert main(["job-overhead", "--log", str(log), "--workdir", str(tmp_path)]) == 1
    assert "empty.snakemake.log records no finished job" in caplog.text
