"""Baselines and controls for the bridge: each method's own code, each writing the bridge's
eval record (the same samples, so McNemar can pair items across methods).

Owns: the prompting baselines (§5.1-5.3) in `prompting` with its settings (`prompting_config`),
templates, demonstrations and record contents (`prompting_record`); the trained baselines and
controls: `prompt_tuning` (both §5.5 variants), `lora` (§5.7), `noise` (§5.8), `probe` (§5.6),
`receiver_inputs` (how the receiver reads the input text in them) and `trained_runs` (each as a
whole job, from loaded inputs to its eval record). Their commands are `cli/baselines.py`.

May import: experiment, data, models, bridge, framing, losses, parsing, evaluate, train, rng,
results.
"""
