"""Every file a run writes, each with its one writer, validator and reader.

Owns: run records (`run_record`, what bridges and baselines put in them: `bridge_records`; the
schema check: `validate`; the run id: `identity`), checkpoints (`checkpoint`,
`training_state`), the training metrics log (`metrics_log`), latency records
(`latency_record`), the frozen sender's cached states (`sender_cache`), the merged tables
(`merge` makes the rows, `merged_table` writes, reads and combines them) and the schemas
(`schemas/`). `atomic` (atomic writes), `provenance` (where a result came from, and the
digests) and `progress` (progress bars that stay readable in a log file) are the package's
foundation: every wing may import them.

May import: experiment, data, bridge, models, latency, parsing, rng (to describe what they
write; lazily where they load torch).
"""
