"""The latency benchmark's library: the timed harness for each method (`harness`), the clock
and memory probe it reads (`timing`), the percentiles it reports (`summary`) and the models and
bridge it times, trained or with random full-size weights (`weights`).

Owns: no files; the record it fills is `results.latency_record`'s, the command `cli/latency.py`.

May import: experiment, data, models, bridge, framing, losses, results.
"""
