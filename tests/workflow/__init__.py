"""The workflow through Snakemake itself: dry runs, end-to-end runs, what reruns."""
