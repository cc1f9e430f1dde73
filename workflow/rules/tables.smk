# The paper's tables: one rule builds any of them from the merged tables it reads (see
# telepathy/grid/products.py for which tables a grid has); another puts them in one LaTeX
# document and, as its own target (`paper_tables_pdf`, needs pdflatex), compiles it.


rule paper_table:
    input:
        unpack(get_table_inputs),
    output:
        tex="results/{protocol}/tables/{name}.tex",
        text="results/{protocol}/tables/{name}.txt",
        html=report(
            "results/{protocol}/tables/{name}.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        "logs/paper_table/{protocol}/{name}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=product_args,
    shell:
        "python -m telepathy table {wildcards.name} {params.args}"
        " --output-dir results/{wildcards.protocol}/tables > {log} 2>&1"


rule tables_document:
    input:
        lambda wildcards: paper_tables(wildcards.protocol),
    output:
        "results/{protocol}/paper_tables.tex",
    log:
        "logs/tables_document/{protocol}.log",
    conda:
        "../../envs/telepathy.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m telepathy compile-tables {input} --document {output} > {log} 2>&1"


# Not part of all_paper_tables: clusters need not have TeX. `make test` installs it and the
# tests compile every table.
rule compile_tables:
    input:
        document="results/{protocol}/paper_tables.tex",
        tables=lambda wildcards: paper_tables(wildcards.protocol),
    output:
        pdf=report(
            "results/{protocol}/paper_tables.pdf",
            caption="../report/tables_pdf.rst",
            category="Tables",
            labels={"table": "all, compiled"},
        ),
    log:
        "logs/compile_tables/{protocol}.log",
    conda:
        "../../envs/telepathy.yaml"  # pdflatex from the system (make tex)
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m telepathy compile-tables --document {input.document} --pdf {output.pdf}"
        " > {log} 2>&1"
