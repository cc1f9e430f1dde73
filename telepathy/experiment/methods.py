"""The one list of baseline methods: the grid, the workflow's rules and the CLI all read it.

A method's name is part of its result paths (`results/<protocol>/baselines/<method>/...`) and of
config.yaml's `baselines`, so these strings never change. What each prompting method loads lives
with its resolver (`telepathy.baselines.prompting_config.METHODS`, keyed by these names).
"""

from __future__ import annotations

# Prompting baselines: no training, one `telepathy baseline` job each.
PROMPTING_METHODS = (
    "zero_shot_sender",
    "zero_shot_receiver",
    "few_shot_sender",
    "few_shot_receiver",
    "text_relay",
)
# Trained on the receiver by `telepathy train-baseline` (the control without the text).
TRAINED_METHODS = ("prompt_tuning_control", "prompt_tuning", "lora")
# Controls with a command of their own: `telepathy eval-noise` and `telepathy probe`.
NOISE_METHOD = "noise"
PROBE_METHOD = "probe"
BASELINE_METHODS = (*PROMPTING_METHODS, *TRAINED_METHODS, NOISE_METHOD, PROBE_METHOD)
# Greedy decoding and a deterministic solver: a second seed would repeat the first run exactly,
# so these run once (on the grid's first seed) unless the config names seeds.
DETERMINISTIC_METHODS = ("zero_shot_sender", "zero_shot_receiver", "text_relay", PROBE_METHOD)
