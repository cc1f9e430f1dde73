"""A driver killed between sbatch and its registry write: the intent it left, and what the next
driver makes of it (recovery.reconcile_intents), without a cluster (the SLURM test kills a
real driver there: tests/slurm/test_workflow_on_slurm.py)."""

from __future__ import annotations

import logging

from snakemake_executor_plugin_submitit import cluster, recovery
from snakemake_executor_plugin_submitit.registry import Intent, SubmissionRegistry
from snakemake_executor_plugin_submitit.submit import intent_submission


def intent(folder, name: str, keys: list[str], run_id: str = "dead-run") -> Intent:
    return Intent(
        intent=name, run_id=run_id, rule="train_bridge", folder=str(folder), keys=keys,
        wildcards=[{"seed": k} for k in keys], at=1.0, time_min=30, gpus=1,
    )  # fmt: skip


def test_intents_are_unresolved_until_a_submission_or_a_close_names_them(tmp_path):
    registry = SubmissionRegistry(tmp_path / "submissions.jsonl")
    for name in ("a", "b", "c"):
        registry.record_intent(intent(tmp_path, name, ["42"]))
    registry.record_intent(intent(tmp_path, "mine", ["7"], run_id="this-run"))
    registry.append([intent_submission(intent(tmp_path, "a", ["42"]), 0, "100")])
    registry.close_intents(["b"])
    with registry.intents_path.open("a") as torn:
        torn.write('{"intent": "d", "run')  # the dead driver's last, unfinished line
    assert [i.intent for i in registry.unresolved_intents("this-run")] == ["c"]


def test_a_restarted_driver_records_what_slurm_accepted_and_cancels_what_cannot_run(
    tmp_path, monkeypatch, caplog
):
    registry = SubmissionRegistry(tmp_path / "submissions.jsonl")
    array = intent(tmp_path, "array", ["42", "123"])  # accepted, pickles in place
    broken = intent(tmp_path, "broken", ["7"])  # accepted, killed before submitit's pickles
    gone = intent(tmp_path, "gone", ["9"])  # never reached the queue
    for one in (array, broken, gone):
        registry.record_intent(one)
    for task in ("500_0", "500_1"):
        (tmp_path / f"{task}_submitted.pkl").write_bytes(b"work")
    asked, cancelled = [], []

    def squeue():
        asked.append(1)
        return {array.comment: {"500_1", "500_0"}, broken.comment: {"501"}}

    monkeypatch.setattr(cluster, "jobs_by_comment", squeue)
    monkeypatch.setattr(cluster, "cancel", cancelled.extend)
    with caplog.at_level(logging.INFO):
        recovery.reconcile_intents(registry, "new-run", logging.getLogger("t"))
    assert len(asked) == 1  # one squeue for every intent
    recorded = {s.slurm_id: s for s in registry.read()}
    assert sorted(recorded) == ["500_0", "500_1"]
    assert recorded["500_1"].key == "123" and recorded["500_1"].run_id == "dead-run"
    assert recorded["500_0"].log.endswith("500_0_0_log.out")
    assert cancelled == ["501"]
    assert registry.unresolved_intents("new-run") == []  # nothing is looked for twice
    assert "found slurm job 500 (train_bridge, 2 job(s))" in caplog.text

    recovery.reconcile_intents(registry, "newer-run", logging.getLogger("t"))
    assert len(asked) == 1  # a clean restart costs no squeue
