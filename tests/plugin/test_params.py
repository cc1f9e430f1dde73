"""Resources -> sbatch flags (params.slurm_parameters), checked through submitit's own
sbatch writer."""

from __future__ import annotations

import pytest

from snakemake_executor_plugin_submitit.params import (
    ResourceError,
    SiteDefaults,
    parse_slurm_extra,
    slurm_parameters,
)

SITE = SiteDefaults(gpu_partition="gpu", cpu_partition="cpu", account="proj1")


def params(resources, threads=1, site=SITE, requeue=False):
    return slurm_parameters("train_bridge", resources, threads, site, job_name="n", requeue=requeue)


def test_gpu_rule_gets_gres_with_model_partition_time_memory_and_cpus():
    p = params({"gpu": 1, "gpu_model": "h100", "runtime": 45, "mem_mb": 64000}, threads=8)
    assert p["gres"] == "gpu:h100:1"
    assert p["partition"] == "gpu" and p["account"] == "proj1"
    assert p["time"] == 45 and p["cpus_per_task"] == 8
    assert p["mem"] == "61036M"  # 64000 MB in MiB, SLURM's unit
    assert "mem_per_cpu" not in p and "mem_per_gpu" not in p
    assert p["job_name"] == "n" and p["stderr_to_stdout"] is True


def test_cpu_rule_goes_to_the_cpu_partition_without_gres():
    p = params({"runtime": 10, "mem_mib": 2000})
    assert p["partition"] == "cpu" and "gres" not in p and p["mem"] == "2000M"


def test_memory_is_set_exactly_once_and_per_cpu_or_per_gpu_wins_over_the_default_mem_mb():
    # Snakemake's remote defaults always add mem_mb; an explicit per-cpu request must win.
    p = params({"runtime": 10, "mem_mb": 8000, "mem_mb_per_cpu": 3000})
    assert p["mem_per_cpu"] == "3000M" and "mem" not in p
    p = params({"runtime": 10, "mem_mb": 8000, "mem_mb_per_gpu": 40000, "gpu": 1})
    assert p["mem_per_gpu"] == "40000M" and "mem" not in p
    with pytest.raises(ResourceError, match="both mem_mb_per_cpu and mem_mb_per_gpu"):
        params({"runtime": 10, "mem_mb_per_cpu": 1, "mem_mb_per_gpu": 1})


def test_per_rule_partition_account_and_qos_override_the_site_defaults():
    p = params({"runtime": 5, "gpu": 2, "slurm_partition": "h100-long", "slurm_account": "x",
                "qos": "high"})  # fmt: skip
    assert (p["partition"], p["account"], p["qos"], p["gres"]) == (
        "h100-long",
        "x",
        "high",
        "gpu:2",
    )


def test_no_site_values_means_no_flags_rather_than_guesses():
    p = params({"runtime": 5}, site=SiteDefaults())
    for key in ("partition", "account", "qos", "wckey", "mem", "gres"):
        assert p.get(key) is None, key


def test_gpus_per_node_style_and_explicit_gres():
    style = SiteDefaults(gpu_request_style="gpus-per-node")
    p = params({"runtime": 5, "gpu": 2, "gpu_model": "h100"}, site=style)
    assert p["gpus_per_node"] == 2 and p["constraint"] == "h100" and "gres" not in p
    assert params({"runtime": 5, "gres": "gpu:a100:4"})["gres"] == "gpu:a100:4"


def test_a_rule_without_runtime_asks_for_the_sites_default_not_submitits_5_minutes():
    assert params({"gpu": 1})["time"] == SITE.default_runtime == 60
    site = SiteDefaults(default_runtime=15)
    assert params({}, site=site)["time"] == 15


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"runtime": 5, "gres": "'gpu:1'"}, "not of the form"),
        ({"runtime": 5, "gres": "gpu:1", "gpu": 1}, "both gres"),
        ({"runtime": 5, "gpu_model": "h100"}, "gpu is 0"),
        ({"runtime": 5, "gpu": "two"}, "gpu='two' is not an integer"),
        ({"runtime": 5, "slurm_partition": "gpu; rm -rf"}, "not a valid SLURM name"),
        ({"runtime": 1, "slurm_signal_delay_s": 90}, "not shorter than runtime"),
        ({"runtime": 5, "slurm_extra": "--mem=4G"}, "sets --mem"),
        ({"runtime": 5, "slurm_extra": "exclusive"}, "not a long option"),
    ],
)
def test_bad_resources_fail_naming_the_rule_and_the_value(resources, message):
    with pytest.raises(ResourceError, match=message) as error:
        params(resources)
    assert "train_bridge" in str(error.value)


def test_escape_hatch_passes_other_flags_and_requeue_follows_checkpointability():
    p = params({"runtime": 5, "slurm_extra": "--exclusive --reservation=maint"}, requeue=True)
    assert p["additional_parameters"] == {
        "exclusive": True,
        "reservation": "maint",
        "requeue": True,
    }
    p = params({"runtime": 5})
    assert p["additional_parameters"] == {"no_requeue": True}
    assert parse_slurm_extra("", "r") == {}


def test_parameters_are_accepted_by_submitits_sbatch_writer(tmp_path):
    """The dict must be valid for submitit and produce the flags we mean, each once."""
    from submitit.slurm.slurm import _make_sbatch_string

    p = params({"gpu": 1, "gpu_model": "h100", "runtime": 30, "mem_mb": 1000}, requeue=True)
    text = _make_sbatch_string(command="true", folder=tmp_path, **p)
    flags = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:h100:1" in flags and "#SBATCH --time=30" in flags
    assert "#SBATCH --signal=USR2@120" in flags and "#SBATCH --requeue" in flags
    assert sum(f.startswith("#SBATCH --mem") for f in flags) == 1
    assert not any(f.startswith("#SBATCH --wckey") for f in flags)  # submitit's default dropped
    assert not any(f.startswith("#SBATCH --error") for f in flags)  # one log file per job
