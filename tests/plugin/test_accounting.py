"""GPU time used from sacct: requeued segments counted, grouped by rule and dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from snakemake_executor_plugin_submitit.accounting import (
    gpus_from_tres,
    job_name,
    parse_job_name,
    parse_sacct,
    summarise_usage,
)

TRES_GPU = "billing=8,cpu=8,gres/gpu:h100=1,gres/gpu=1,mem=64G,node=1"
TRAIN = job_name("train_bridge", {"dataset": "trec", "k": "16", "seed": "42"})
EVAL = job_name("evaluate_bridge", {"dataset": "trec", "k": "16", "seed": "42"})
# What `sacct -X --duplicates --parsable2 --noheader --format=...` prints: job 101 was
# preempted after 10 min, requeued under the same id and finished in 15 min.
T0, T1 = "2026-01-01T10:00:00", "2026-01-01T11:00:00"  # start/end are not summed
SACCT = "\n".join(
    [
        f"101|101|{TRAIN}|gpu|PREEMPTED|0:0|600|{TRES_GPU}|{T0}|{T1}",
        f"101|101|{TRAIN}|gpu|COMPLETED|0:0|900|{TRES_GPU}|{T0}|{T1}",
        f"102|102|{EVAL}|gpu|COMPLETED|0:0|300|{TRES_GPU}|{T0}|{T1}",
        f"103|103|prepare_models-pair=paper|cpu|CANCELLED by 0|0:15|60|cpu=4,mem=32G|{T0}|{T1}",
        f"110|105_0|train_bridge-dataset=sst2|gpu|TIMEOUT|0:0|3600|cpu=8,gres/gpu=2|{T0}|{T1}",
    ]
)


def test_job_names_round_trip():
    assert TRAIN == "train_bridge-dataset=trec,k=16,seed=42"
    assert parse_job_name(TRAIN) == ("train_bridge", {"dataset": "trec", "k": "16", "seed": "42"})
    assert parse_job_name("interactive") == ("interactive", {})
    with pytest.raises(ValueError, match="contains '-'"):
        job_name("train-bridge", {})


@pytest.mark.parametrize(
    ("tres", "expected"),
    [
        (TRES_GPU, (1, "h100")),
        ("cpu=8,gres/gpu=4,mem=1T", (4, None)),
        ("cpu=4,mem=32G", (0, None)),
        ("gres/gpu:a100=2,gres/gpu=2", (2, "a100")),
    ],
)
def test_gpus_from_alloc_tres(tres, expected):
    assert gpus_from_tres(tres) == expected


def test_every_requeued_segment_counts():
    usage = summarise_usage(parse_sacct(SACCT))
    jobs = {job["job_id"]: job for job in usage["jobs"]}
    train = jobs["101"]
    assert train["segments"] == 2 and train["restarts"] == 1
    assert train["elapsed_s"] == 1500  # 600 s preempted + 900 s to completion
    assert train["gpu_hours"] == pytest.approx(1500 / 3600)
    assert train["states"] == ["PREEMPTED", "COMPLETED"] and train["final_state"] == "COMPLETED"
    assert jobs["103"]["gpu_hours"] == 0 and jobs["103"]["final_state"] == "CANCELLED"
    assert jobs["110"]["gpu_hours"] == pytest.approx(2.0)  # 1 h x 2 GPUs
    by_rule = {row["rule"]: row for row in usage["by_rule"]}
    assert by_rule["train_bridge"]["gpu_hours"] == pytest.approx(1500 / 3600 + 2)
    assert by_rule["train_bridge"]["restarts"] == 1
    assert by_rule["evaluate_bridge"]["gpu_hours"] == pytest.approx(300 / 3600)
    by_dataset = {row["dataset"]: row for row in usage["by_dataset"]}
    assert by_dataset["trec"]["gpu_hours"] == pytest.approx(1800 / 3600)
    assert by_dataset["sst2"]["gpu_hours"] == pytest.approx(2.0)
    assert usage["gpu_hours"] == pytest.approx(1800 / 3600 + 2)


def test_an_older_job_of_the_same_id_is_not_counted():
    """After a controller's state was reset SLURM hands out 101 again; `sacct --duplicates`
    then lists the older job 101 too, and asked for 104 it also answers with an older array's
    task whose raw id was 104 (both seen on the test cluster: the calibration's GPU time came
    out doubled, and one rule's jobs counted under another). What started before the
    submission is not this job's; a start within the slack (sbatch's latency, clocks) and a
    requeued segment are."""
    import time

    submitted = time.mktime(time.strptime("2026-01-01T09:59:30", "%Y-%m-%dT%H:%M:%S"))
    older = f"101|101|{TRAIN}|gpu|COMPLETED|0:0|7200|{TRES_GPU}|2025-12-31T08:00:00|{T0}"
    early = "2026-01-01T09:58:40"  # 50 s before the submission was written down
    sacct = "\n".join(
        [older, SACCT.splitlines()[0], SACCT.splitlines()[1],
         f"102|102|{EVAL}|gpu|COMPLETED|0:0|300|{TRES_GPU}|{early}|{T1}",
         f"104|104|{EVAL}|gpu|PENDING|0:0|0|{TRES_GPU}|Unknown|Unknown",
         f"104|99_3|{TRAIN}|gpu|COMPLETED|0:0|500|{TRES_GPU}|2025-12-31T08:00:00|{T0}"]
    )  # fmt: skip
    record = {"rule": "x", "wildcards": {}, "submitted_at": submitted}
    records = dict.fromkeys(("101", "102", "104"), record)
    jobs = {job["job_id"]: job for job in summarise_usage(parse_sacct(sacct), records)["jobs"]}
    assert jobs["101"]["segments"] == 2 and jobs["101"]["elapsed_s"] == 1500
    assert jobs["102"]["elapsed_s"] == 300
    assert jobs["104"]["states"] == ["PENDING"] and jobs["104"]["array_job_id"] == "104"
    unrecorded = {job["job_id"]: job for job in summarise_usage(parse_sacct(sacct))["jobs"]}
    assert unrecorded["101"]["segments"] == 3  # without the record there is no telling


def test_malformed_sacct_line_names_the_line():
    with pytest.raises(ValueError, match="sacct line 1 has 3 fields, expected 10"):
        parse_sacct("1|2|3\n")


def test_gpu_usage_cli_reads_saved_sacct_output(tmp_path):
    saved = tmp_path / "sacct.txt"
    saved.write_text(SACCT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "telepathy",
            "gpu-usage",
            "--sacct-output",
            str(saved),
            "--json",
            str(tmp_path / "usage.json"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "train_bridge" in proc.stdout and "total GPU-hours used: 2.500" in proc.stdout
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["gpu_hours"] == pytest.approx(2.5)


def test_submissions_name_array_tasks_and_add_requested_and_planned_hours(tmp_path):
    """Array tasks share one SLURM job name (only the wildcards they all share); the plugin's
    submissions file names each task's dataset, and what each job asked for."""
    shared = job_name("train_bridge", {"pair": "paper"})
    sacct = "\n".join(
        [
            f"201|200_0|{shared}|gpu|COMPLETED|0:0|1800|{TRES_GPU}|{T0}|{T1}",
            f"202|200_1|{shared}|gpu|REQUEUED|0:0|600|{TRES_GPU}|{T0}|{T1}",
            f"202|200_1|{shared}|gpu|COMPLETED|0:0|1200|{TRES_GPU}|{T0}|{T1}",
        ]
    )
    from snakemake_executor_plugin_submitit.accounting import format_usage
    from snakemake_executor_plugin_submitit.registry import Submission, SubmissionRegistry

    def submission(slurm_id: str, dataset: str, time_min: int) -> Submission:
        return Submission(
            key=f"train_bridge {dataset}", slurm_id=slurm_id, rule="train_bridge",
            wildcards={"dataset": dataset}, log="job.log", folder="jobs", submitted_at=0.0,
            run_id="run", time_min=time_min, gpus=1,
        )  # fmt: skip

    path = tmp_path / "submissions.jsonl"
    registry = SubmissionRegistry(path)
    registry.append([submission("200_0", "sst2", 60), submission("200_1", "trec", 45)])
    with path.open("a") as handle:
        handle.write('{"torn')  # a killed driver's last line
    plan = {"gpu_hours": 3.0, "rules": [{"rule": "train_bridge", "gpu_hours": 3.0}]}
    usage = summarise_usage(parse_sacct(sacct), registry.by_slurm_id(), plan)
    by_dataset = {row["dataset"]: row for row in usage["by_dataset"]}
    assert by_dataset["sst2"]["gpu_hours"] == pytest.approx(0.5)
    assert by_dataset["trec"]["gpu_hours"] == pytest.approx(0.5)  # 600 s + 1200 s
    assert by_dataset["trec"]["requested_gpu_hours"] == pytest.approx(1.5)  # 45 min, twice
    (train,) = usage["by_rule"]
    assert train["planned_gpu_hours"] == 3.0 and train["requested_gpu_hours"] == pytest.approx(2.5)
    table = format_usage(usage)
    assert "GPU-h planned" in table and "total GPU-hours planned: 3.000" in table


def test_an_escalated_retry_is_counted_and_named_in_the_usage_table():
    from snakemake_executor_plugin_submitit.accounting import format_usage

    sacct = "\n".join(
        [
            f"201|201|{EVAL}|gpu|TIMEOUT|0:0|60|{TRES_GPU}|{T0}|{T1}",
            f"202|202|{EVAL}|gpu|COMPLETED|0:0|70|{TRES_GPU}|{T0}|{T1}",
        ]
    )
    submissions = {
        "201": {"rule": "evaluate_bridge", "wildcards": {"dataset": "trec"}, "time_min": 1,
                "gpus": 1},
        "202": {"rule": "evaluate_bridge", "wildcards": {"dataset": "trec"}, "time_min": 2,
                "gpus": 1, "escalation": "runtime 1 -> 2 min", "escalated_from": "201"},
    }  # fmt: skip
    usage = summarise_usage(parse_sacct(sacct), submissions)
    (row,) = usage["by_rule"]
    assert row["jobs"] == 2 and row["escalated"] == 1
    assert row["requested_gpu_hours"] == pytest.approx(3 / 60)  # both requests count
    text = format_usage(usage)
    assert "escalated: evaluate_bridge job 202: runtime 1 -> 2 min after 201" in text
