"""Shared fixtures: the tiny random-init pair (tokenizer prepared once), small run configs, and
data snapshots of the dataset fixtures (what prepare-data writes from hand-copied files)."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from telepathy.experiment.config import RunConfig, resolve_run_config
from telepathy.experiment.pairs import get_pair
from telepathy.models.lms import MANIFEST_NAME, converted_dir, default_cache_root
from telepathy.models.prepare import prepare_model

torch.set_num_threads(2)  # the CI machine's cores; also keeps CPU runs repeatable

DATASET_FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
NETGUARD = Path(__file__).parent / "netguard"


def network_blocked_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a process tree that sees the world as a GPU node without a route out:
    every non-loopback connect or name lookup raises and is logged to tmp_path/network.log
    (tests/netguard), the hub caches are empty folders of tmp_path, and no HF_* setting leaks
    in from the caller (give HF_ENDPOINT or the offline flags in `extra`)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_HOME=str(tmp_path / "hf_home"),
        HF_DATASETS_CACHE=str(tmp_path / "hf_datasets"),
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join([str(NETGUARD), str(Path(__file__).parents[1])]),
        TELEPATHY_BLOCK_NETWORK="1",
        TELEPATHY_NETWORK_LOG=str(tmp_path / "network.log"),
        **extra,
    )
    return env


# A shell without job control starts a background command with SIGINT ignored, and an ignored
# signal stays ignored across exec: a suite started that way gave its subprocesses no Ctrl-C.
_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
_DEFAULT_SIGINT += "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"


def as_from_a_terminal(python_args: list[str]) -> list[str]:
    """`python *python_args` started with SIGINT's default, as from a terminal, whatever started
    this suite (the tests of what Ctrl-C does)."""
    return [sys.executable, "-c", _DEFAULT_SIGINT, *python_args]


def network_attempts(tmp_path: Path) -> list[str]:
    """What the guard of network_blocked_env refused, one line per attempt."""
    log = tmp_path / "network.log"
    return log.read_text().splitlines() if log.exists() else []


def fixture_files(name: str):
    """The JSON Lines fixtures of one real dataset (its columns and labels), as local files."""
    from telepathy.data import LocalFiles, get_dataset

    hub = get_dataset(name).hub
    assert hub is not None
    folder = DATASET_FIXTURES / name
    return LocalFiles(
        "json", folder / f"{hub.train_split}.jsonl", folder / f"{hub.eval_split}.jsonl"
    )


_SNAPSHOTS: dict[str, Path] = {}


def fixture_snapshot_dir(name: str) -> Path:
    """The folder of a data snapshot of one dataset's fixtures (written once per session)."""
    from telepathy.data import get_dataset, write_snapshot

    if name not in _SNAPSHOTS:
        folder = Path(tempfile.mkdtemp(prefix=f"telepathy-fixture-{name}-"))
        atexit.register(shutil.rmtree, folder, True)
        write_snapshot(get_dataset(name), folder, local=fixture_files(name))
        _SNAPSHOTS[name] = folder
    return _SNAPSHOTS[name]


@pytest.fixture(scope="session")
def fixture_snapshot():
    """name -> the opened DataSnapshot of that dataset's fixtures."""
    from telepathy.data import open_snapshot

    return lambda name: open_snapshot(fixture_snapshot_dir(name), name)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The model cache ($TELEPATHY_CACHE); the tiny pair's tokenizer is prepared in it once."""
    root = default_cache_root()
    pair = get_pair("tiny")
    for spec in (pair.sender, pair.receiver):
        prepare_model(spec, root, pair_name="tiny")
    return root


@pytest.fixture(scope="session")
def tiny_pair(model_cache: Path):
    from telepathy.models.pair import load_pair

    return load_pair("tiny", torch.device("cpu"), model_cache)


@pytest.fixture(scope="session")
def small_cache() -> Path:
    """The cache holding the converted small pair; skips when `prepare-models` has not run."""
    root = default_cache_root()
    pair = get_pair("small")
    if not all(
        (converted_dir(s, root) / MANIFEST_NAME).exists() for s in (pair.sender, pair.receiver)
    ):
        pytest.skip(
            "small pair not prepared: run `telepathy prepare-models --pair small --manifest "
            "<file>` (the README test command does)"
        )
    return root


def tiny_config(**overrides) -> RunConfig:
    """A fast corrected-protocol config for the tiny pair on the offline sentiment task."""
    settings = {
        "steps": 6,
        "batch_size": 4,
        "grad_accum": 1,
        "checkpoint_every": 100,
        "eval_every": 0,
        "train_size": 64,
        "lr": 1e-3,
    }
    settings.update(overrides)
    return resolve_run_config(
        protocol="corrected", pair="tiny", dataset="synth_sentiment", seed=7, overrides=settings
    )


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """pdflatex's path; skips without it, except under CI (TELEPATHY_REQUIRE_LATEX=1) where
    every generated table must compile and a missing TeX is a failure."""
    import os
    import shutil

    path = shutil.which("pdflatex")
    if path is None:
        reason = (
            "pdflatex not installed: `make tex` (the README test command runs it) installs "
            "texlive-latex-base and texlive-latex-recommended"
        )
        if os.environ.get("TELEPATHY_REQUIRE_LATEX") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


CLUSTER_TESTS = "tests/slurm/"  # node ids are relative to the repository root


def pytest_collection_modifyitems(items):
    """Tests marked `timing` go last (a stable sort keeps the rest in order): they hold wall
    times to a bar, and the later they run, the more of what they import has been read from
    disk. Under `make test` nothing else shares the 2 cores with the work they time: the SLURM
    worker reaches the calibration ≈10 min after the other worker has finished (≈26 min of
    cluster tests against ≈17 of the rest), and the others run afterwards in a pytest process
    of their own."""
    items.sort(key=lambda item: item.get_closest_marker("timing") is not None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under `-n N --dist loadgroup` (make test): every test on the SLURM test cluster goes to
    one worker, one after another. They share one node (two GPU slots) and some kill its
    daemons, so two at once would see each other's jobs. The largest group is handed out first,
    so the cluster's ≈27 min start at once while the other worker runs everything else (the
    cluster tests mostly wait on SLURM). A scheduler, not `xdist_group` marks: xdist 3.8 groups
    by rewriting `item._nodeid`, which pytest 9.2 no longer reads."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ClusterTestsTogether(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(CLUSTER_TESTS):
                return CLUSTER_TESTS
            return super()._split_scope(nodeid)

    return ClusterTestsTogether(config, log)
