"""Training data order: which examples the n-th micro-batch holds, as a pure function of n.

Because the order depends only on (seed, batch index), a run resumed from a checkpoint draws
the same batches as one that never stopped, without saving any iterator state.
"""

from __future__ import annotations

import math

import torch


class BatchSchedule:
    """Shuffled batches with the iterator restarted every epoch, as a function of the index."""

    def __init__(self, n_examples: int, batch_size: int, drop_last: bool, seed: int) -> None:
        if n_examples < (batch_size if drop_last else 1):
            raise ValueError(
                f"{n_examples} training examples cannot fill one batch of {batch_size}"
            )
        self.n, self.batch_size, self.seed = n_examples, batch_size, seed
        per_epoch = n_examples / batch_size
        self.batches_per_epoch = math.floor(per_epoch) if drop_last else math.ceil(per_epoch)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, batch_index: int) -> list[int]:
        """Example indices of the `batch_index`-th micro-batch since the start of training."""
        epoch, position = divmod(batch_index, self.batches_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=generator)
        start = position * self.batch_size
        return self._order[start : start + self.batch_size].tolist()
