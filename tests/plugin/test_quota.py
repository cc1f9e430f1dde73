"""The submit limit without a cluster: reading sacctmgr's answers (quota.py), and the executor
holding back what does not fit and submitting it as room frees (the SLURM test runs a 20-job
workflow under MaxSubmitJobs=5: tests/slurm/test_quota_on_slurm.py)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from snakemake_executor_plugin_submitit import quota
from snakemake_executor_plugin_submitit.quota import (
    Quota,
    QuotaState,
    SubmitLimit,
    association_limits,
    enforces_limits,
    qos_limits,
    tightest,
)

# `sacctmgr -n -P show user root withassoc format=<USER_FIELDS>` on the test cluster
TEST_CLUSTER = "root|root|telepathy-test|root||||normal|"
# a user in two accounts (default: lab), a partition row, and a second cluster
SITE = "\n".join([
    "ada|lab|hpc|lab||100|200|normal,long|",
    "ada|lab|hpc|lab|gpu|20||normal,long|",
    "ada|lab|hpc|course||||normal|normal",
    "ada|lab|other|lab||3||normal|",
])  # fmt: skip
QOS = "normal|\nlong|10\nhigh|2\n"
ROOT5 = SubmitLimit(5, "MaxSubmitJobs=5 (association root/root)", "root")


def test_limits_count_only_where_slurm_enforces_them():
    assert enforces_limits({"AccountingStorageEnforce": "associations,limits"})
    assert enforces_limits({"AccountingStorageEnforce": "associations,limits,qos,safe"})
    assert enforces_limits({"AccountingStorageEnforce": "all"})
    assert not enforces_limits({"AccountingStorageEnforce": "associations"})
    assert not enforces_limits({"AccountingStorageEnforce": "none"})
    assert not enforces_limits({})  # scontrol did not answer


def test_the_test_clusters_root_has_no_limit_until_one_is_set():
    limits, qos = association_limits(TEST_CLUSTER, "telepathy-test", None, None)
    assert limits == [] and qos == {"normal"}
    limited = TEST_CLUSTER.replace("root||||", "root||5||")  # MaxSubmit, set or inherited
    limits, _ = association_limits(limited, "telepathy-test", None, None)
    assert limits == [ROOT5]


def test_the_default_accounts_rows_of_this_cluster_count_partition_rows_included():
    limits, qos = association_limits(SITE, "hpc", None, None)
    assert sorted(limit.name for limit in limits) == [
        "GrpSubmitJobs=200 (association lab/ada)",
        "MaxSubmitJobs=100 (association lab/ada)",
        "MaxSubmitJobs=20 (association lab/ada, partition gpu)",
    ]
    assert qos == {"normal", "long"}  # no default QOS: any of them may be the job's
    assert {(limit.account, limit.partition) for limit in limits} == {("lab", None), ("lab", "gpu")}


def test_an_account_or_qos_from_the_settings_replaces_the_defaults():
    limits, qos = association_limits(SITE, "hpc", "course", None)
    assert limits == [] and qos == {"normal"}  # its default QOS
    _, qos = association_limits(SITE, "hpc", None, "high")
    assert qos == {"high"}


def test_an_unknown_cluster_or_account_falls_back_to_every_row():
    limits, _ = association_limits(SITE, "", "nosuch", None)
    assert min(limit.value for limit in limits) == 3  # the strictest of all: never refused
    assert association_limits("ada||||\n\n", "hpc", None, None) == ([], set())


def test_qos_limits_per_user_of_the_qos_the_jobs_run_in():
    assert qos_limits(QOS, {"normal"}) == []
    assert qos_limits(QOS, {"normal", "long"}) == [
        SubmitLimit(10, "MaxSubmitJobsPerUser=10 (QOS long)", qos="long")
    ]


def test_each_limit_counts_the_jobs_under_it_and_the_one_nearest_full_binds():
    lab = SubmitLimit(100, "MaxSubmitJobs=100 (association lab/ada)", "lab")
    gpu = SubmitLimit(20, "MaxSubmitJobs=20 (association lab/ada, partition gpu)", "lab", "gpu")
    long = SubmitLimit(10, "MaxSubmitJobsPerUser=10 (QOS long)", qos="long")
    queued = [("lab", "gpu", "normal")] * 15 + [("course", "cpu", "long")] * 8
    queued += [("lab", "cpu,gpu", "long")]  # pending in either partition: counts for gpu too
    assert tightest([lab, gpu], queued) == (4, gpu)
    assert tightest([lab, gpu, long], queued) == (1, long)  # other accounts' jobs count there
    assert tightest([], queued) == (0, None)


class FakeExecutor(Quota):
    """The executor as the mixin sees it; `submitted` lists each sbatch's jobs."""

    def __init__(self, limits: list[SubmitLimit]):
        self.quota = QuotaState(limits=limits, read=True)
        self.site = SimpleNamespace(account=None, qos=None)
        self.logger = logging.getLogger("test-quota")
        self.submitted: list[list[str]] = []

    def _submit_group(self, jobs):
        self.submitted.append(list(jobs))


def jobs(rule: str, count: int) -> list[str]:
    return [f"{rule}{i}" for i in range(count)]


def queued(count: int, account: str = "root") -> list[tuple[str, str, str]]:
    return [(account, "cpu", "normal")] * count


def test_what_does_not_fit_waits_and_goes_out_as_jobs_end(monkeypatch, caplog):
    rounds = iter([queued(1) + queued(9, "lab"), queued(5), queued(2), queued(0)])
    monkeypatch.setattr(quota, "queued_jobs", lambda: next(rounds))  # squeue, each round
    executor = FakeExecutor([ROOT5])
    with caplog.at_level(logging.INFO, logger="test-quota"):
        executor._submit_within_quota([jobs("a", 6), jobs("b", 2)])
        # one of the 5 places is another workflow's; the jobs of account lab do not count
        assert executor.submitted == [jobs("a", 4)]
        assert executor._submit_held()  # nothing ended yet
        assert executor.submitted == [jobs("a", 4)]
        assert executor._submit_held()  # 3 places: the rest of a's array, then one of b
        assert executor.submitted[1:] == [["a4", "a5"], ["b0"]]
        assert not executor._submit_held()
        assert executor.submitted[3:] == [["b1"]]
    notices = [r.message for r in caplog.records if "holding" in r.message]
    assert len(notices) == 1, notices  # said once, with the limit and its value
    assert "holding 4 job(s) back: MaxSubmitJobs=5 (association root/root)" in notices[0]


def test_new_jobs_queue_behind_those_already_waiting(monkeypatch):
    executor = FakeExecutor([ROOT5])
    # 4 jobs of another workflow, plus ours
    monkeypatch.setattr(quota, "queued_jobs", lambda: queued(4 + sum(map(len, executor.submitted))))
    executor._submit_within_quota([jobs("a", 3)])
    executor._submit_within_quota([jobs("b", 1)])
    assert executor.submitted == [["a0"]]
    assert list(executor.quota.held) == [["a1", "a2"], ["b0"]]
    executor._drop_held()  # Ctrl-C: none of them is submitted any more
    assert not executor._submit_held() and executor.submitted == [["a0"]]


def test_without_a_usable_limit_everything_is_submitted_at_once(monkeypatch):
    def no_squeue():
        raise RuntimeError("squeue exit 1: slurm_load_jobs error")

    executor = FakeExecutor([])  # none set, or not enforced
    executor._submit_within_quota([jobs("a", 30)])
    assert executor.submitted == [jobs("a", 30)]

    monkeypatch.setattr(quota, "queued_jobs", no_squeue)
    executor = FakeExecutor([ROOT5])
    executor._submit_within_quota([jobs("a", 30)])
    assert executor.submitted == [jobs("a", 30)]  # cannot count: as before, never stuck


def test_an_unreadable_or_zero_limit_is_ignored(monkeypatch, caplog):
    def broken(account, qos):
        raise KeyError("getpwuid(): uid not found: 1234")

    for reader in (broken, lambda account, qos: [SubmitLimit(0, "MaxSubmitJobs=0 (x)")]):
        monkeypatch.setattr(quota, "read_submit_limits", reader)
        executor = FakeExecutor([])
        executor.quota.read = False
        executor._submit_within_quota([jobs("a", 3)])
        assert executor.submitted == [jobs("a", 3)] and executor.quota.limits == []
    assert "cannot read the submit limits" in caplog.text
    assert "MaxSubmitJobs=0 (x) ignored" in caplog.text


def test_a_retry_waits_for_room_and_nothing_else_submits_meanwhile(monkeypatch):
    executor = FakeExecutor([SubmitLimit(2, "MaxSubmitJobs=2 (association root/root)", "root")])
    others = iter([queued(2), queued(1)])  # jobs already queued: full, then one ended
    monkeypatch.setattr(quota, "queued_jobs", lambda: next(others))
    executor.quota.held.append(jobs("a", 1))
    with executor._room_for_one() as room:
        assert not room  # at the limit: the retry waits for the next round
    with executor._room_for_one() as room:
        assert room
        assert executor.quota.lock.locked()  # nothing else submits until it is in
