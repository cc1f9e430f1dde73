"""Which weights a latency benchmark times: a trained final bridge with its pair, or every model
at full size from its config with random weights (for speed and memory on a GPU node without
hub access), and the record's `mode` block that says which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telepathy.experiment.config import RunConfig
from telepathy.models.pair import build_bridge, embedding_median_rms, load_pair
from telepathy.models.run_inputs import ModelSource


def load_pair_and_bridge(
    cfg: RunConfig, state: dict[str, Any] | None, checkpoint: Path | None, models: ModelSource
):
    """(pair, bridge, mode): the trained `state` read from `checkpoint`, or random weights
    when `state` is None."""
    from telepathy.models.random_weights import load_random_pair
    from telepathy.results.checkpoint import check_matches
    from telepathy.results.provenance import file_sha256

    if state is None:
        pair, sources = load_random_pair(cfg.pair, models.device, models.cache_dir)
        scale_init = cfg.scale_init_factor * embedding_median_rms(pair.receiver)
        bridge = build_bridge(cfg, pair, scale_init)
        mode = {
            "weights": "random_weights",
            "checkpoint": None,
            "random_weights": {
                **sources,
                "bridge": (
                    f"fresh {cfg.bridge_architecture} bridge, torch seed {cfg.seed}, "
                    f"s0 = {scale_init:.6g}"
                ),
            },
        }
        return pair, bridge, mode
    pair = load_pair(cfg.pair, models.device, models.cache_dir, models=models.manifest)
    check_matches(state, checkpoint, pair=pair.identity(), cfg=None)
    bridge = build_bridge(cfg, pair, state["output_scale_init"])
    bridge.load_state_dict(state["bridge"])
    mode = {
        "weights": "trained_checkpoint",
        "checkpoint": {
            "path": str(checkpoint),
            "sha256": file_sha256(checkpoint),
            "trained_steps": int(state["step"]),
            "config_sha256": state["config_sha256"],
        },
        "random_weights": None,
    }
    return pair, bridge, mode
