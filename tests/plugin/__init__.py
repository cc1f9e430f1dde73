"""Tests of the executor plugin (snakemake_executor_plugin_submitit/), without a cluster."""
