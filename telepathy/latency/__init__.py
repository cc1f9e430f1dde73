"""The latency benchmark's library: the timed harness for each method (`harness`), the clock
and memory probe it reads (`timing`), and the percentiles it reports (`summary`).

The record it writes is `results.latency_record`'s; the command is `cli/latency.py`.
May import `experiment`, `models`, `bridge`, `framing`, `train` and `losses`.
"""
