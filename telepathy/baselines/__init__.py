"""Baselines and controls for the bridge: each module one method, each writing the bridge's
per-run result record (same samples, so McNemar can pair items across methods).

prompt_tuning (both §5.5 variants), lora (§5.7), noise (§5.8) and probe (§5.6) are the trained
baselines and controls; receiver_inputs is how the receiver reads the input text in them;
commands holds their CLI bodies.
"""
