"""Measuring instruments of the latency benchmark: a synchronised clock and a peak-memory probe.

`read_clock` is the one clock read of the benchmark: on CUDA it waits for queued kernels first,
because launches are asynchronous and unsynchronised time would land in a later phase.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")

# ----------------------------------------------------------------------------- clock


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (CUDA launches are asynchronous); no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def read_clock(device: torch.device) -> float:
    """The one clock read of the benchmark: synchronise, then read; used for every phase."""
    synchronize(device)
    return time.perf_counter()


class PhaseTimer:
    """Consecutive phases of one run: each lap ends a phase where the previous one ended."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.phases_s: dict[str, float] = {}
        self.started_s = self._last_s = read_clock(device)

    def lap(self, phase: str) -> None:
        """Close `phase` now (time since the previous lap is added to it)."""
        now = read_clock(self.device)
        self.phases_s[phase] = self.phases_s.get(phase, 0.0) + now - self._last_s
        self._last_s = now

    @property
    def total_s(self) -> float:
        return self._last_s - self.started_s


# ----------------------------------------------------------------------------- memory


class MemoryProbe:
    """Peak memory of one run. CUDA: tensors allocated by PyTorch. CPU: the process's peak RSS.

    On CPU tracemalloc would miss the tensors (PyTorch allocates them in C++, outside Python's
    allocators), so the kernel's resident-set high-water mark (VmHWM) is used, reset before
    each run through /proc/self/clear_refs. Without that file the lifetime peak (ru_maxrss) is
    the only figure, an upper bound, and `description` says so.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            self.description = (
                "torch.cuda.max_memory_allocated: peak bytes of PyTorch tensors on the device, "
                "counter reset before each run"
            )
            self._resettable = True
        else:
            self._resettable = self._can_reset_rss()
            self.description = (
                "process peak resident set size (VmHWM), reset via /proc/self/clear_refs before "
                "each run; includes the loaded weights and allocator caches"
                if self._resettable
                else "process lifetime peak RSS (ru_maxrss): not resettable here, an upper bound"
            )

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            _CLEAR_REFS.write_text("5")  # 5 = reset the peak RSS only (proc(5))
            return _STATUS.exists()
        except OSError:
            return False

    @staticmethod
    def _status_bytes(field_name: str) -> int:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
        raise RuntimeError(f"{field_name} missing from {_STATUS}")

    def start(self) -> int:
        """Reset the peak counter; return the bytes in use now (the run's baseline)."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return int(torch.cuda.memory_allocated(self.device))
        if self._resettable:
            _CLEAR_REFS.write_text("5")
            return self._status_bytes("VmRSS")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak(self) -> int:
        """Peak bytes since `start`."""
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        if self._resettable:
            return self._status_bytes("VmHWM")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
