"""The frozen language models: prepared ahead of the jobs (`prepare`) and loaded from local
files (`lms`), the loaded sender/receiver pair with the sender's hidden states and the bridge
built to its shapes (`pair`), full-size model shapes with random weights for honest speed and
memory figures (`random_weights`), what a job loads before its work starts (`run_inputs`), and
where a job's sender states come from: the sender itself or a cache of them (`sender_source`).

Owns: the model manifest (`results/models/<pair>.json`) and the converted-GGUF cache.

May import: experiment, data, bridge, framing, results (checkpoints, to open a trained bridge;
the sender cache's file).
"""
