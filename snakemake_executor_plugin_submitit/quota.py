"""Keeping this user's jobs under the site's submit limit, for the Executor (a mixin: it uses
the executor's settings, logger and `_submit_group`). SLURM refuses an sbatch that would take
the user past `MaxSubmitJobs` (each array task counts as one job), and a refused job fails the
workflow; so jobs past what fits wait in the driver and go out as jobs end.

Read once per run: `scontrol show config` (is the limit enforced; the cluster's name), the
user's associations (`sacctmgr show user withassoc`: MaxSubmit and GrpSubmit, inherited from the
account when not set for the user) and the QOS' MaxSubmitPU (`sacctmgr show qos`). The room
left is counted by one `squeue` each time jobs are about to go out, not from the driver's own
record: the controller that enforces a limit also counts the user's other jobs under it (other
workflows'), and a job that finished for Snakemake but still completes in SLURM. MaxJobs is
not read: past it, jobs pend (AssocMaxJobsLimit); they are not refused.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from snakemake_executor_plugin_submitit import cluster

USER_FIELDS = ("User", "DefaultAccount", "Cluster", "Account", "Partition", "MaxSubmit",
               "GrpSubmit", "QOS", "DefaultQOS")  # fmt: skip
# AccountingStorageEnforce values under which SLURM refuses jobs past the limits
_ENFORCING = {"limits", "safe", "all"}


@dataclass(frozen=True)
class SubmitLimit:
    """How many jobs (array tasks one by one) the user may have queued or running under an
    association (account and maybe partition) or a QOS."""

    value: int
    name: str  # e.g. "MaxSubmitJobs=5 (association root/root)", for the log
    account: str | None = None  # None: the user's jobs of any account count
    partition: str | None = None
    qos: str | None = None

    def counts(self, job: tuple[str, str, str]) -> bool:
        """Whether a queued job, (account, partitions, QOS) as squeue shows it, counts."""
        account, partitions, qos = job
        return (
            self.account in (None, account)
            and (self.partition is None or self.partition in partitions.split(","))
            and self.qos in (None, qos)
        )


@dataclass
class QuotaState:
    """The Executor's quota bookkeeping; `lock` makes counting and submitting one step."""

    held: deque[list[Any]] = field(default_factory=deque)  # each: one sbatch's jobs, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    limits: list[SubmitLimit] = field(default_factory=list)
    binding: SubmitLimit | None = None  # the limit that admitted fewest jobs last time
    read: bool = False
    told: bool = False


def enforces_limits(config: dict[str, str]) -> bool:
    """Whether SLURM refuses jobs past association and QOS limits (else there is no limit)."""
    values = config.get("AccountingStorageEnforce", "").replace(" ", "").lower().split(",")
    return bool(_ENFORCING & set(values))


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None  # empty: not set


def association_limits(
    text: str, cluster_name: str, account: str | None, qos: str | None
) -> tuple[list[SubmitLimit], set[str]]:
    """The submit limits of the associations the user's jobs run under, and the QOS names they
    may run in, from `sacctmgr -n -P show user withassoc format=<USER_FIELDS>`. The account is
    `account` or the user's default; partition rows all count (the strictest wins)."""
    rows = [line.split("|") for line in text.splitlines()]
    rows = [
        dict(zip(USER_FIELDS, row, strict=True)) for row in rows if len(row) == len(USER_FIELDS)
    ]
    rows = [row for row in rows if row["Account"]]  # a user row without an association
    rows = [row for row in rows if row["Cluster"] == cluster_name] or rows
    wanted = account or next((row["DefaultAccount"] for row in rows), "")
    rows = [row for row in rows if row["Account"] == wanted] or rows
    limits, qos_names = [], set()
    for row in rows:
        scope = (row["Account"], row["Partition"] or None)  # the jobs a limit counts
        where = f"association {row['Account']}/{row['User']}" + (
            f", partition {row['Partition']}" if row["Partition"] else ""
        )
        for column, name in (("MaxSubmit", "MaxSubmitJobs"), ("GrpSubmit", "GrpSubmitJobs")):
            if (value := _number(row[column])) is not None:
                limits.append(SubmitLimit(value, f"{name}={value} ({where})", *scope))
        if qos or row["DefaultQOS"]:
            qos_names.add(qos or row["DefaultQOS"])
        else:  # no default: SLURM picks one of them; the strictest counts
            qos_names.update(name for name in row["QOS"].split(",") if name)
    return limits, qos_names


def qos_limits(text: str, names: set[str]) -> list[SubmitLimit]:
    """MaxSubmitPU of the named QOS, from `sacctmgr -n -P show qos format=Name,MaxSubmitPU`."""
    limits = []
    for line in text.splitlines():
        name, _, value = line.partition("|")
        if name in names and (number := _number(value)) is not None:
            limits.append(
                SubmitLimit(number, f"MaxSubmitJobsPerUser={number} (QOS {name})", qos=name)
            )
    return limits


def tightest(
    limits: list[SubmitLimit], queued: list[tuple[str, str, str]]
) -> tuple[int, SubmitLimit | None]:
    """(room, limit): how many more jobs every limit admits with these jobs queued, and the
    limit that admits fewest; (0, None) without limits."""
    rooms = [(limit.value - sum(map(limit.counts, queued)), limit) for limit in limits]
    return min(rooms, key=lambda pair: pair[0], default=(0, None))


def read_submit_limits(account: str | None, qos: str | None) -> list[SubmitLimit]:
    """The user's enforced submit limits (none: not enforced); RuntimeError if sacctmgr fails."""
    config = cluster.read_config()
    if not enforces_limits(config):
        return []
    user = pwd.getpwuid(os.getuid()).pw_name  # SLURM knows the uid, not $USER
    assoc = cluster.run_command(["sacctmgr", "-n", "-P", "show", "user", user, "withassoc",
                                 "format=" + ",".join(USER_FIELDS)])  # fmt: skip
    limits, qos_names = association_limits(assoc, config.get("ClusterName", ""), account, qos)
    if qos_names:
        qos_text = cluster.run_command(
            ["sacctmgr", "-n", "-P", "show", "qos", "format=Name,MaxSubmitPU"]
        )
        limits += qos_limits(qos_text, qos_names)
    return limits


def queued_jobs() -> list[tuple[str, str, str]]:
    """This user's jobs that SLURM counts against the limits (not yet ended), array tasks one by
    one (`-r`), as (account, partitions, QOS): one squeue call."""
    out = cluster.run_command(["squeue", "-h", "--me", "-r", "-o", "%a|%P|%q"])
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line.count("|") == 2]


class Quota:
    """The Executor's submissions under the submit limit (self.quota: QuotaState)."""

    def _submit_within_quota(self, batches: list[list[Any]]) -> None:
        """Submit the batches (the jobs of one sbatch each) as far as the limit lets, after
        those already waiting; the rest wait for `_submit_held`."""
        with self.quota.lock:
            self.quota.held.extend(batch for batch in batches if batch)
            self._submit_what_fits()

    def _submit_held(self) -> bool:
        """At the end of each status round (after its retries took their places): submit the
        waiting jobs that fit now; True while some wait."""
        if not self.quota.held:
            return False
        with self.quota.lock:
            self._submit_what_fits()
            return bool(self.quota.held)

    @contextlib.contextmanager
    def _room_for_one(self) -> Iterator[bool]:
        """Whether one more job fits now, kept so while the caller submits it (a retry)."""
        with self.quota.lock:
            room = self._room()
            yield room is None or room > 0

    def _drop_held(self) -> None:
        """On cancel: never submit the waiting jobs (after a submission under way is tracked)."""
        with self.quota.lock:
            self.quota.held.clear()

    def _submit_what_fits(self) -> None:
        held, room = self.quota.held, self._room()
        while held and (room is None or room > 0):
            batch = held.popleft()
            take = len(batch) if room is None else min(room, len(batch))
            if take < len(batch):  # an array split at the limit: the rest waits in front
                held.appendleft(batch[take:])
            self._submit_group(batch[:take])
            room = None if room is None else room - take
        if held and not self.quota.told and (limit := self.quota.binding) is not None:
            self.quota.told = True
            self.logger.info(
                f"submitit: holding {sum(len(b) for b in held)} job(s) back: {limit.name} admits "
                f"{limit.value} jobs queued or running (array tasks count one each); they are "
                f"submitted as jobs end, so that SLURM refuses none"
            )

    def _room(self) -> int | None:
        """How many more jobs SLURM accepts now; None: no limit known, submit everything."""
        quota = self.quota
        if not quota.read:
            quota.read = True
            try:
                quota.limits = read_submit_limits(self.site.account, self.site.qos)
            except Exception as error:  # never fail a run over its limits: submit as before
                self.logger.warning(f"submitit: cannot read the submit limits ({error})")
            for limit in [limit for limit in quota.limits if limit.value < 1]:
                self.logger.warning(f"submitit: {limit.name} ignored: it admits no job")
                quota.limits.remove(limit)
        if not quota.limits:
            return None
        try:
            room, quota.binding = tightest(quota.limits, queued_jobs())
        except RuntimeError as error:  # submit as without a limit rather than wait blind
            self.logger.warning(f"submitit: cannot count queued jobs ({error})")
            return None
        return room
