"""Baselines and controls for the bridge: each module one method, each writing the bridge's
per-run result record (same samples, so McNemar can pair items across methods).

Prompting baselines (§5.1-5.3): prompting (zero-shot, few-shot, text relay) with its templates,
demonstrations, settings and records. Trained baselines and controls: prompt_tuning (both §5.5
variants), lora (§5.7), noise (§5.8) and probe (§5.6); receiver_inputs is how the receiver reads
the input text in them; commands holds their CLI bodies.
"""
