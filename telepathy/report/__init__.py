"""From merged run tables to what a paper needs: LaTeX tables, figures, the HTML report's parts.

`table` is the table model and its LaTeX/text rendering; `runs` loads merged run tables and
summarises groups of runs (mean ± std over seeds, pooled Wilson CI, missing runs named).
`accuracy_tables` builds the paper's accuracy tables (main, reasoning, baselines, per-seed
appendix, invalid rates) from them; `cells` decides which runs fill which cell and which best
cell is bold; `labels` holds the canonical order and display names.
"""
