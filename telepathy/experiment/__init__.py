"""What a run is made of: the model pairs (`pairs`), the protocols that fix each paper era's
settings (`protocols`), and one run's resolved, validated settings (`config.RunConfig`).

Pure data and validation: imports nothing from the rest of telepathy except `data`'s registry,
and never torch, so that planning a grid stays fast.
"""
