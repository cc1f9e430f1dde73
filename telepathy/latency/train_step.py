"""One training step in parts, beside its FLOP floor: where a bridge's step time goes.

A step of `telepathy train` is timed part by part (the sender up to the source layer, the
bridge's forward, the receiver's forward with the loss, the receiver's backward down to the soft
tokens, the bridge's backward, the optimiser), on the loss `train` itself uses
(`losses.bridge_loss_terms`): the parts are marked by hooks on the bridge, not by a copy of the
step. Each part's FLOPs are counted once, outside the timed steps, by PyTorch's own counter
(`torch.utils.flop_counter`), and divided by the machine's measured matmul throughput in the
same dtype: the floor a part could reach if it were all matmul at full speed. The ratio of
measured time to that floor says where the step is far from what its arithmetic needs.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import torch

from telepathy.bridge import Bridge
from telepathy.data import Example
from telepathy.framing import Framing
from telepathy.latency.timing import MemoryProbe, PhaseTimer, read_clock
from telepathy.losses import adamw, bridge_loss_terms, soft_token_answer_loss
from telepathy.models.pair import LoadedPair
from telepathy.models.sender_source import states_source

PARTS = (
    "sender",
    "bridge_forward",
    "receiver_forward",
    "receiver_backward",
    "bridge_backward",
    "optimizer",
)


@dataclass
class StepBreakdown:
    """Per-part step times (s, one entry per timed step), FLOPs per step and the matmul speed."""

    batch_size: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    flops: dict[str, int] = field(default_factory=dict)
    matmul_flops_per_s: float = 0.0
    dtype: str = ""
    peak_bytes: int = 0  # the timed steps' peak (MemoryProbe: CUDA tensors, or the CPU's RSS)
    memory: str = ""  # what peak_bytes measures

    def median_s(self, part: str) -> float:
        return median(self.seconds[part])

    @property
    def step_s(self) -> float:
        """The median step: the sum of the parts' medians."""
        return sum(self.median_s(p) for p in PARTS)

    def floor_s(self, part: str) -> float:
        return self.flops.get(part, 0) / self.matmul_flops_per_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "matmul_flops_per_s": self.matmul_flops_per_s,
            "step_s": self.step_s,
            "steps_per_s": 1.0 / self.step_s,
            "floor_s": sum(self.floor_s(p) for p in PARTS),
            "peak_bytes": self.peak_bytes,
            "memory": self.memory,
            "parts": {
                p: {
                    "median_s": self.median_s(p),
                    "share": self.median_s(p) / self.step_s,
                    "flops": self.flops.get(p, 0),
                    "floor_s": self.floor_s(p),
                }
                for p in PARTS
            },
        }


def matmul_flops_per_s(
    device: torch.device, dtype: torch.dtype, size: int = 1024, seconds: float = 1.0
) -> float:
    """The machine's best measured square-matmul throughput (FLOP/s) in `dtype`, on the
    threads torch uses now; `size` 1024 is past the small-matrix overheads on CPU and GPU."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b  # warm-up: kernels chosen, caches filled
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = read_clock(device)
        a @ b
        best = min(best, read_clock(device) - start)
    return 2 * size**3 / best


def _count_flops(run: Any) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops())


class StepTimer:
    """Times the parts of bridge training steps on one batch size."""

    def __init__(self, pair: LoadedPair, framing: Framing, bridge: Bridge) -> None:
        self.pair, self.framing = pair, framing
        self.cfg = framing.cfg
        self.embed = pair.receiver.model.get_input_embeddings()
        # a copy trains, so a caller's bridge keeps its weights
        self.bridge = copy.deepcopy(bridge).requires_grad_(True).train()
        self.optimizer = adamw(self.bridge.parameters(), self.cfg.lr, self.cfg.weight_decay)

    @contextmanager
    def _marks(self, timer: PhaseTimer) -> Iterator[None]:
        """Laps at the bridge's call, its return, and when the backward pass reaches the soft
        tokens (the receiver's backward is done, the bridge's begins)."""

        def before(_module: Any, _args: Any) -> None:
            timer.lap("sender")  # since the step began: tokenise + sender up to the layer

        def after(_module: Any, _args: Any, output: Any) -> None:
            timer.lap("bridge_forward")
            if output.soft_tokens.requires_grad:
                output.soft_tokens.register_hook(lambda grad: timer.lap("receiver_backward"))

        handles = [
            self.bridge.register_forward_pre_hook(before),
            self.bridge.register_forward_hook(after),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def step(self, batch: Sequence[Example]) -> dict[str, float]:
        """One optimiser step of `telepathy train` on `batch`, its parts' seconds."""
        timer = PhaseTimer(self.pair.device)
        with self._marks(timer):
            terms = bridge_loss_terms(
                self.cfg, self.pair, self.framing, self.bridge, self.embed, batch
            )
            timer.lap("receiver_forward")
            terms["loss"].backward()
            timer.lap("bridge_backward")
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.bridge.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        timer.lap("optimizer")
        return timer.phases_s

    def flops(self, batch: Sequence[Example]) -> dict[str, int]:
        """FLOPs of each part on `batch`, counted on separate untimed runs of each part."""
        pair, framing = self.pair, self.framing
        source = states_source(pair, framing)  # the sender, or the cache read (no FLOPs)
        labels = [e.label for e in batch]
        counts = {"sender": _count_flops(lambda: source(batch))}
        sender = source(batch)
        states, mask = sender.states, sender.attention_mask
        counts["bridge_forward"] = _count_flops(lambda: self.bridge(states, mask))
        soft = self.bridge(states, mask).soft_tokens.detach().requires_grad_(True)
        receiver = pair.receiver.model

        def loss() -> torch.Tensor:
            return soft_token_answer_loss(receiver, framing, soft, labels, self.embed)

        counts["receiver_forward"] = _count_flops(loss)
        counts["receiver_backward"] = (
            _count_flops(lambda: loss().backward()) - counts["receiver_forward"]
        )
        grad = torch.ones_like(soft)
        total = _count_flops(lambda: self.bridge(states, mask).soft_tokens.backward(grad))
        counts["bridge_backward"] = total - counts["bridge_forward"]
        self.optimizer.zero_grad(set_to_none=True)
        counts["optimizer"] = 0  # elementwise: no matmul floor
        return counts


def measure_train_step(
    pair: LoadedPair,
    framing: Framing,
    bridge: Bridge,
    examples: Sequence[Example],
    *,
    batch_size: int,
    steps: int,
    warmup: int,
) -> StepBreakdown:
    """`warmup` untimed then `steps` timed training steps at `batch_size` (the example list
    walked cyclically), each part's FLOPs, and the matmul throughput in the LMs' dtype."""
    timer = StepTimer(pair, framing, bridge)
    dtype = pair.receiver.model.dtype  # the sender may be a cache: the receiver is loaded
    result = StepBreakdown(batch_size=batch_size, dtype=str(dtype).removeprefix("torch."))

    def batch_at(index: int) -> list[Example]:
        start = index * batch_size
        return [examples[(start + i) % len(examples)] for i in range(batch_size)]

    probe = MemoryProbe(pair.device)
    result.memory = probe.description
    for index in range(warmup + steps):
        if index == warmup:
            probe.start()
        phases = timer.step(batch_at(index))
        if index >= warmup:
            for part in PARTS:
                result.seconds[part].append(phases.get(part, 0.0))
    result.peak_bytes = probe.peak()
    result.flops = timer.flops(batch_at(0))
    result.matmul_flops_per_s = matmul_flops_per_s(pair.device, dtype)
    return result


def with_cached_sender(
    pair: LoadedPair, framing: Framing, examples: Sequence[Example], folder: Path
) -> LoadedPair:
    """`pair` with its sender replaced by a cache of its states on `examples` (written to
    `folder`, as `cache-sender-states` writes one): the step as `train --sender-cache` runs it.
    The sender's weights are dropped with the old pair's last reference."""
    from telepathy.models.sender_source import build_sender_cache, open_cached_sender

    path = folder / "sender_states.safetensors"
    build_sender_cache(
        path, pair.sender, framing, examples, split="eval", batch_size=16, progress_bar=False
    )
    cached = open_cached_sender(
        {"eval": path}, framing.cfg, {"eval": examples}, stage=framing.stage, device=pair.device
    )
    return dataclasses.replace(pair, sender=cached)


def format_breakdown(result: StepBreakdown) -> str:
    """The breakdown as a text table: time, share, FLOPs, floor and the ratio per part."""
    rows = [
        f"training step at batch {result.batch_size} ({result.dtype}): "
        f"{result.step_s * 1000:.1f} ms, {1 / result.step_s:.2f} steps/s, peak memory "
        f"{result.peak_bytes / 2**30:.2f} GiB; matmul "
        f"{result.matmul_flops_per_s / 1e9:.1f} GFLOP/s measured on this device",
        f"{'part':18} {'ms':>9} {'share':>6} {'GFLOP':>9} {'floor ms':>9} {'x floor':>8}",
    ]
    for part in PARTS:
        seconds, floor = result.median_s(part), result.floor_s(part)
        ratio = f"{seconds / floor:8.1f}" if floor > 0 else f"{'-':>8}"
        rows.append(
            f"{part:18} {seconds * 1000:9.2f} {seconds / result.step_s:6.1%} "
            f"{result.flops.get(part, 0) / 1e9:9.3f} {floor * 1000:9.2f} {ratio}"
        )
    floor = sum(result.floor_s(p) for p in PARTS)
    rows.append(
        f"{'step':18} {result.step_s * 1000:9.2f} {1:6.0%} "
        f"{sum(result.flops.values()) / 1e9:9.3f} {floor * 1000:9.2f} {result.step_s / floor:8.1f}"
    )
    return "\n".join(rows)
