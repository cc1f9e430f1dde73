"""The submissions registry: the newest submission per job, robust to a torn line."""

from __future__ import annotations

from snakemake_executor_plugin_submitit.registry import Submission, SubmissionRegistry, job_key


def test_registry_keeps_the_newest_submission_per_job_and_survives_a_torn_line(tmp_path):
    registry = SubmissionRegistry(tmp_path / "s.jsonl")
    key = job_key("train_bridge", {"seed": "1", "dataset": "trec"}, ["b.pt", "a.json"])
    assert key == job_key("train_bridge", {"dataset": "trec", "seed": "1"}, ["a.json", "b.pt"])
    first = Submission(key, "10", "train_bridge", {"seed": "1"}, "l", "f", 1.0, "run1")
    registry.append([first])
    registry.append([Submission(key, "11", "train_bridge", {"seed": "1"}, "l", "f", 2.0, "run2")])
    with open(tmp_path / "s.jsonl", "a") as handle:
        handle.write('{"key": "torn')  # a driver killed mid-write
    assert registry.latest_by_key()[key].slurm_id == "11"
    assert len(registry.read()) == 2
