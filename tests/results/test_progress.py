"""Progress bars: redrawn on a terminal, one plain line per interval in a log file."""

from __future__ import annotations

import subprocess
import sys

from telepathy.results import progress


def test_in_a_log_file_each_update_is_its_own_line_without_carriage_returns(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # every update draws
    bar = progress.progress_bar(4, desc="train bridge", unit="step")
    for _ in range(4):
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) >= 4 and all(line.startswith("train bridge:") for line in lines)
    assert "4/4" in lines[-1]


def test_a_long_loop_logs_one_line_per_interval_not_one_per_step():
    code = (
        "from telepathy.results.progress import progress\n"
        "import time\n"
        "for _ in progress(range(200), desc='eval', unit='batch'):\n"
        "    time.sleep(0.001)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr
    assert 1 <= len(lines) <= 3, lines  # start and end (under one 30 s interval)
    assert "200/200" in lines[-1]


def test_disabled_bars_print_nothing(capsys):
    for _ in progress.progress(range(5), desc="x", enabled=False):
        pass
    assert capsys.readouterr().err == ""
