"""Telepathy: train and evaluate a latent bridge between two frozen causal language models.

The package by stage (README.md, *Where the code is*, draws the same map beside the workflow's):
each wing's docstring says what it owns and what it may import, and tests/test_architecture.py
holds the code to it.

- `cli/`: the only edge: one module per `workflow/rules/<stage>.smk`, one command table.
- `grid/`: the workflow's API (runs, result paths, products, runtimes); what common.smk imports.
- `experiment/`: what a run is (pairs, protocols, resolved settings, the list of methods).
- `data/`: datasets, their snapshots and generated tasks.
- `models/`: the frozen LMs, prepared and loaded; the loaded pair.
- `bridge.py`, `framing.py`, `losses.py`, `train.py`, `evaluate.py`, `parsing.py`, `rng.py`,
  `inspect_bridge.py`: the method itself, one module each, read top to bottom.
- `baselines/`: every baseline and control.
- `latency/`: the latency benchmark.
- `results/`: every file a run writes (writer, validator, reader); atomic writes, provenance.
- `report/`: tables, figures and statistics from merged results.

The executor plugin (`snakemake_executor_plugin_submitit/`) stands alone: it imports nothing
from here.
"""

__version__ = "0.1.0"
