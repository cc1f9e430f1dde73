"""Baselines the bridge is compared with: prompting (zero-shot, few-shot, text relay) and trained
ones (prompt tuning, LoRA, probe, noise), each writing the same run-result JSON as the bridge."""
