"""The workflow's API to the package: which runs, ablations, baselines and benchmarks a
workflow config asks for (`expand`). The only package `workflow/rules/common.smk` imports.

May import `experiment`, `data` and the baselines' config resolvers; never torch (a test
keeps `import telepathy.grid` torch-free, so that a dry run of the paper grid stays ~2 s).
"""
