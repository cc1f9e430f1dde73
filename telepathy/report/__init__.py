"""From merged run tables to what a paper needs: LaTeX tables, figures, the HTML report's parts.

`table` is the table model and its LaTeX/text rendering; `runs` loads merged run tables and
summarises groups of runs (mean ± std over seeds, pooled Wilson CI, missing runs named);
`figures` draws the paper's figures (`figure_command` is `telepathy figure`).
"""
