"""What a run is made of: the model pairs (`pairs`), the protocols that fix each paper era's
settings (`protocols`), one run's resolved, validated settings (`config.RunConfig`), the
one list of methods (`methods`) that the grid, the rules and the command line read, and which
settings the frozen sender's states depend on (`sender_states`: what names a sender cache).

Owns: no files; pure data and validation, and never torch, so that planning a grid stays fast.

May import: data.
"""
