"""The frozen language models: preparing and loading them (`lms`), the loaded sender/receiver
pair with the sender's hidden states and the bridge built to its shapes (`pair`), and
full-size model shapes with random weights for honest speed and memory figures
(`random_weights`).

May import `experiment`, `data` and `bridge`; nothing here parses arguments or writes results.
"""
