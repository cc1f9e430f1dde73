"""From merged run tables to what a paper needs: LaTeX tables, figures, the HTML report's parts.

Owns: no files of its own (it writes the tables and figures the command line names). `table`
is the table model and its LaTeX/text/HTML rendering, `latex` compiles it; `runs` summarises
groups of merged rows (mean ± std over seeds, pooled Wilson CI, McNemar pairs, missing runs
named) and `stats` holds the statistics; `cells` decides which runs fill which cell and which
best cell is bold; `labels` the canonical order and display names; `paper_numbers` the original
paper's headline numbers (method.md §10) as data. The tables: `accuracy_tables`,
`baseline_table`, `comparison_table`, `ablation_tables`, `latency_table`, `cost_table`, each by
name in `table_builders`; the figures: `figures`, `inspect_figures`, `curves`, `figure_style`,
each by name in `figure_builders`. Files are read through `results` (their one reader).
For the people who pay for the GPU time: `run_status` (where a grid stands: `telepathy status`)
and `calibration` (`plan --calibrate`), both pure, with `status_sources` gathering their facts
(the config, the executor plugin's record, one sacct call, a dry run, metrics logs).

May import: experiment, data, grid (the product names), results.
"""
