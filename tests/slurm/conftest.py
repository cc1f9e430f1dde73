"""The real single-node SLURM test cluster (slurm/testcluster/cluster.sh) as a session fixture.

`slurm_cluster` uses a cluster that already answers `sinfo`; otherwise it runs `cluster.sh up`
and, at the end of the session, `cluster.sh down` (only if it started it). Where the cluster
cannot run (cluster.sh exit 3: not root, no apt/dpkg, a foreign slurm.conf) the tests skip with
the reason, unless TELEPATHY_REQUIRE_SLURM=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from .slurmtools import CLUSTER_SH, SlurmCluster, sinfo_answers, state_dir

EXIT_UNAVAILABLE = 3  # cluster.sh: this machine cannot run the cluster (see its header)
UP_TIMEOUT_S = 900  # a first `up` installs packages (~35 s here; slow mirrors take longer)


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("TELEPATHY_REQUIRE_SLURM") == "1":
        pytest.fail(f"TELEPATHY_REQUIRE_SLURM=1 and no SLURM test cluster: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running SLURM cluster; started (and stopped afterwards) here if none answers."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))
    if sinfo_answers():
        yield SlurmCluster(started_here=False, state_dir=state_dir(), since=since)
        return
    asked_at = time.time()
    try:
        proc = subprocess.run(
            ["bash", str(CLUSTER_SH), "up"],
            check=False,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"`cluster.sh up` took longer than {UP_TIMEOUT_S}s: {err.stderr}")
    if proc.returncode == EXIT_UNAVAILABLE:
        reason_file = state_dir() / "unavailable"
        fresh = reason_file.exists() and reason_file.stat().st_mtime >= asked_at - 1
        _fail_or_skip(reason_file.read_text().strip() if fresh else proc.stderr.strip())
    if proc.returncode != 0:
        pytest.fail(f"`cluster.sh up` failed (exit {proc.returncode}):\n{proc.stderr}")
    try:
        yield SlurmCluster(started_here=True, state_dir=state_dir(), since=since)
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "down"], check=False, timeout=300)
