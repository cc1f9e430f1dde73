"""Numbers from timed trials: percentiles per phase, throughput, and the labelled speed ratios.

Pure functions of per-trial milliseconds, so the ratios can be checked against hand-computed
values. Ratios are ratios of medians (each method's median total over its own trials).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TOTAL = "total"
LIKE_FOR_LIKE_LABEL = (
    "like for like: bridge and text relay both generate the same number of answer tokens "
    "(decode_tokens); median total ms"
)
ORIGINAL_PROTOCOL_LABEL = (
    "original protocol (Era B, the paper's 22.4x; method.md §6, pitfall 20): the bridge timed "
    "only up to the receiver's first forward pass (its receiver_decode phase removed, no "
    "generation) against the text relay WITH generation; not a fair comparison"
)
BRIDGE_VS_DIRECT_LABEL = (
    "bridge vs the receiver reading the text itself, both generating decode_tokens; median ms"
)


def describe(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, IQR, 5th/95th percentiles, mean, min and max (linear interpolation)."""
    if not values:
        raise ValueError("no values to describe: a method ran no timed trial")
    data = np.asarray(values, dtype=float)
    p5, p25, median, p75, p95 = np.percentile(data, [5, 25, 50, 75, 95])
    return {
        "median": float(median),
        "p25": float(p25),
        "p75": float(p75),
        "iqr": float(p75 - p25),
        "p5": float(p5),
        "p95": float(p95),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "max": float(data.max()),
    }


def without_decode(trials_ms: Sequence[Mapping[str, float]]) -> list[float]:
    """Per-trial bridge totals without the receiver's decode steps (the original protocol)."""
    return [t[TOTAL] - t.get("receiver_decode", 0.0) for t in trials_ms]


def summarise_trials(
    trials_ms: Sequence[Mapping[str, float]], phases: Sequence[str], batch_size: int
) -> dict[str, Any]:
    """Per-phase and total statistics (ms) and throughput from one method's trials."""
    total = describe([t[TOTAL] for t in trials_ms])
    return {
        "phases_ms": {p: describe([t.get(p, 0.0) for t in trials_ms]) for p in phases},
        "total_ms": total,
        # items/s at the median: batch_size items finish together after one total
        "throughput_items_per_s": batch_size / (total["median"] / 1e3),
    }


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def speed_ratios(trials_by_method: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, Any]:
    """The labelled ratios one batch size allows, from each method's per-trial milliseconds.

    `like_for_like` and `original_protocol` need bridge and text_relay; `bridge_vs_direct`
    needs bridge and direct_text. Ratios whose methods were not run are left out.
    """
    medians = {m: _median([t[TOTAL] for t in trials]) for m, trials in trials_by_method.items()}
    ratios: dict[str, Any] = {}
    if "bridge" in medians and "text_relay" in medians:
        bridge, relay = medians["bridge"], medians["text_relay"]
        ratios["like_for_like"] = {
            "label": LIKE_FOR_LIKE_LABEL,
            "bridge_ms": bridge,
            "text_relay_ms": relay,
            "text_relay_over_bridge": relay / bridge,
            "bridge_over_text_relay": bridge / relay,
        }
        no_generation = _median(without_decode(trials_by_method["bridge"]))
        ratios["original_protocol"] = {
            "label": ORIGINAL_PROTOCOL_LABEL,
            "bridge_without_generation_ms": no_generation,
            "text_relay_ms": relay,
            "text_relay_over_bridge": relay / no_generation,
            "bridge_over_text_relay": no_generation / relay,
        }
    if "bridge" in medians and "direct_text" in medians:
        bridge, direct = medians["bridge"], medians["direct_text"]
        ratios["bridge_vs_direct"] = {
            "label": BRIDGE_VS_DIRECT_LABEL,
            "bridge_ms": bridge,
            "direct_text_ms": direct,
            "bridge_over_direct_text": bridge / direct,
        }
    return ratios
