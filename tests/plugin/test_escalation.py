"""The one escalated retry after TIMEOUT or OUT_OF_MEMORY: what it asks for, and its bounds."""

from __future__ import annotations

import pytest

from snakemake_executor_plugin_submitit.escalation import (
    Escalation,
    PartitionLimits,
    escalate,
    parse_limits,
    slurm_minutes,
)

UNBOUNDED = PartitionLimits(None, None)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("infinite", None), ("UNLIMITED", None), ("30:00", 30), ("24:00:00", 1440),
     ("1-12:00:00", 2160), ("2:30:30", 151), ("45", 45)],
)  # fmt: skip
def test_sinfo_time_limits_in_minutes(text, minutes):
    assert slurm_minutes(text) == minutes


def test_partition_limits_take_the_largest_node_of_a_mixed_partition():
    assert parse_limits("24:00:00|22000\n24:00:00|64000+\n") == PartitionLimits(1440, 64000)
    assert parse_limits("infinite|8000\n") == PartitionLimits(None, 8000)


def test_a_timeout_doubles_the_runtime_up_to_the_partition_limit():
    assert escalate("TIMEOUT", {"time": 30}, 2.0, UNBOUNDED) == Escalation(
        {"time": 60}, "runtime 30 -> 60 min"
    )
    capped = escalate("TIMEOUT", {"time": 1000}, 2.0, PartitionLimits(1440, None))
    assert capped.overrides == {"time": 1440}
    at_limit = escalate("TIMEOUT", {"time": 1440}, 2.0, PartitionLimits(1440, None))
    assert at_limit == "runtime 1440 min is the partition's limit already"


def test_out_of_memory_raises_the_memory_form_the_job_asked_with():
    assert escalate("OUT_OF_MEMORY", {"mem": "191M"}, 2.0, UNBOUNDED).overrides == {"mem": "382M"}
    limited = escalate("OUT_OF_MEMORY", {"mem": "15000M"}, 2.0, PartitionLimits(None, 22000))
    assert limited.overrides == {"mem": "22000M"}
    per_cpu = escalate(
        "OUT_OF_MEMORY",
        {"mem_per_cpu": "3000M", "cpus_per_task": 4},
        2.0,
        PartitionLimits(None, 16000),
    )
    assert per_cpu.overrides == {"mem_per_cpu": "4000M"}  # 4 x 4000 fills the node
    assert "no memory of its own" in escalate("OUT_OF_MEMORY", {"time": 5}, 2.0, UNBOUNDED)
    full = escalate("OUT_OF_MEMORY", {"mem": "22000M"}, 2.0, PartitionLimits(None, 22000))
    assert full == "mem 22000 MiB is the nodes' memory already"
