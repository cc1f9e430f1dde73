"""From merged run tables to what a paper needs: LaTeX tables, figures, the HTML report's parts.

`table` is the table model and its LaTeX/text rendering; `runs` loads merged run tables and
summarises groups of runs (mean ± std over seeds, pooled Wilson CI, missing runs named).
`accuracy_tables` builds the paper's accuracy tables (main, reasoning, baselines, per-seed
appendix, invalid rates) from them; `cells` decides which runs fill which cell and which best
cell is bold; `labels` holds the canonical order and display names.
`paper_numbers` holds the original paper's headline numbers (method.md §10) as data;
`comparison_table` sets them beside ours, `ablation_tables` builds Table 5 and the layer and
architecture ablations, `latency_table` Table 4 (and 4b) from latency.v1 records, and
`cost_table` the compute each rule used (run JSON timings beside SLURM accounting).
`figures` draws the paper's figures (`figure_command` is `telepathy figure`); `catalogue` says
which tables and figures a grid has; `aggregate` combines the per-dataset merged tables; and
`commands` holds the `combine-runs`, `table` and `compile-tables` commands.
"""
