"""Snakemake's own executor test base (the one snakemake-executor-plugin-slurm's tests subclass)
run through our plugin on the real test cluster: a plain workflow and one of group jobs.

One override, the one the official plugin needs as well on a cluster that enforces memory with
cgroups: the base's rule `c` asks for mem="5MB", less than Python needs to start submitit's job.
"""

from __future__ import annotations

import signal

import pytest
from snakemake.common.tests import TestWorkflowsLocalStorageBase
from snakemake.settings import types as settings

from snakemake_executor_plugin_submitit import ExecutorSettings

pytestmark = pytest.mark.slurm


class TestSnakemakesExecutorBaseOnSlurm(TestWorkflowsLocalStorageBase):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _cluster(self, slurm_cluster):
        return slurm_cluster

    @pytest.fixture(autouse=True)
    def _signal_handlers_restored(self):
        # Snakemake's API installs its own SIGTERM/SIGINT handlers in the test process and leaves
        # them there; later tests of our own signal handling must find the process as it was.
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        yield
        for sig, handler in before.items():
            signal.signal(sig, handler)

    def get_executor(self) -> str:
        return "submitit"

    def get_executor_settings(self) -> ExecutorSettings:
        return ExecutorSettings()

    def get_resource_settings(self) -> settings.ResourceSettings:
        return settings.ResourceSettings(overwrite_resources={"c": {"mem": "1000MB"}})
