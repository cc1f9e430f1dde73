"""The frozen sender's states, cached: one safetensors file per (sender, source layer, dataset,
split, sender framing, example list), written once and read by every bridge job of the grid.

Only the real tokens are stored: example i's states are rows `offsets[i]:offsets[i + 1]` of
`states` (total real tokens x d_sender; bf16 when written on CUDA, fp32 on CPU) with its sender
token ids beside them. A reader gathers a batch back into the right-padded (B, T, d) layout the
live sender gives, zeros at the padding (which every bridge masks). The file's metadata holds
the settings that made it (`key`): a job checks them against its own before using any row, so a
cache made for another template, truncation, layer, model or example list is an error that says
so, never silently wrong states.

This module owns the file: its writer, its checks and its reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from telepathy.results.atomic import atomic_write_with
from telepathy.results.provenance import ids_digest

FORMAT = "telepathy-sender-states"
VERSION = "1"


class SenderCacheError(ValueError):
    """A cache file that is not what the job needs; the message names the file and the fix."""


@dataclass(frozen=True)
class SenderStatesBatch:
    """A batch as the bridge reads it: states (B, T, d_sender), the mask (B, T) with 1 on
    real tokens, and the sender's token ids (B, T) (0 at the padding)."""

    states: torch.Tensor
    attention_mask: torch.Tensor
    input_ids: torch.Tensor


_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


class SenderCacheWriter:
    """Streams a cache file: the layout is fixed up front from every example's token count
    (tokenising is cheap), then each batch's rows are appended as the sender produces them,
    so a cache far larger than memory is written without holding it. The file appears
    complete under its name or not at all (temp file, fsync, rename)."""

    def __init__(
        self,
        path: Path,
        ids: Sequence[str],
        lengths: Sequence[int],
        width: int,
        dtype: torch.dtype,
        key: Mapping[str, Any],
    ) -> None:
        if len(ids) != len(lengths) or not ids:
            raise ValueError(f"{len(ids)} ids for {len(lengths)} lengths")
        if len(set(ids)) != len(ids):
            raise ValueError("example ids repeat: a cache row per example id")
        if dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f"unsupported cache dtype {dtype}")
        self.path, self.ids, self.lengths = Path(path), list(ids), [int(n) for n in lengths]
        self.width, self.dtype = width, dtype
        n_tokens = sum(self.lengths)
        state_bytes = n_tokens * width * torch.empty((), dtype=dtype).element_size()
        self.offsets = torch.tensor([0, *self.lengths], dtype=torch.int64).cumsum(0)
        header: dict[str, Any] = {
            "__metadata__": {
                "format": FORMAT,
                "version": VERSION,
                "ids": json.dumps(self.ids),
                "ids_sha256": ids_digest(self.ids),
                "key": json.dumps(dict(key), sort_keys=True),
            },
            "states": {
                "dtype": _SAFETENSORS_DTYPES[dtype],
                "shape": [n_tokens, width],
                "data_offsets": [0, state_bytes],
            },
            "input_ids": {
                "dtype": "I64",
                "shape": [n_tokens],
                "data_offsets": [state_bytes, state_bytes + 8 * n_tokens],
            },
            "offsets": {
                "dtype": "I64",
                "shape": [len(self.offsets)],
                "data_offsets": [
                    state_bytes + 8 * n_tokens,
                    state_bytes + 8 * n_tokens + 8 * len(self.offsets),
                ],
            },
        }
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        self._header = text + b" " * (-len(text) % 8)  # the data starts 8-byte aligned
        self._rows = 0
        self._token_ids: list[torch.Tensor] = []

    def _append(
        self, handle: Any, rows: Sequence[torch.Tensor], ids: Sequence[torch.Tensor]
    ) -> None:
        """The next examples' states (T_i, d) and token ids (T_i,), in the cache's order."""
        for row, token_ids in zip(rows, ids, strict=True):
            expected = self.lengths[self._rows]
            if tuple(row.shape) != (expected, self.width) or token_ids.shape[0] != expected:
                raise ValueError(
                    f"example {self.ids[self._rows]!r}: rows {tuple(row.shape)}, "
                    f"{token_ids.shape[0]} ids; the layout says ({expected}, {self.width})"
                )
            data = row.detach().to(device="cpu", dtype=self.dtype).contiguous()
            handle.write(data.view(torch.uint8).numpy().tobytes())
            self._token_ids.append(token_ids.detach().cpu().to(torch.int64))
            self._rows += 1

    def write(self, produce: Any) -> None:
        """Write the file: `produce(append)` calls `append(rows, token_ids)` for each batch, in
        the order of the ids given."""

        def body(handle: Any) -> None:
            handle.write(len(self._header).to_bytes(8, "little"))
            handle.write(self._header)
            produce(lambda rows, ids: self._append(handle, rows, ids))
            if self._rows != len(self.ids):
                raise ValueError(f"{self._rows} of {len(self.ids)} examples were written")
            handle.write(torch.cat(self._token_ids).numpy().tobytes())
            handle.write(self.offsets.numpy().tobytes())

        atomic_write_with(self.path, body)


class SenderCache:
    """An opened cache file; rows are read on demand (memory-mapped), not loaded whole."""

    def __init__(self, path: Path, metadata: dict[str, str], handle: Any) -> None:
        self.path = path
        self.key: dict[str, Any] = json.loads(metadata["key"])
        self.ids: list[str] = json.loads(metadata["ids"])
        self.index = {uid: i for i, uid in enumerate(self.ids)}
        self._handle = handle
        self.offsets = handle.get_tensor("offsets")
        self._states = handle.get_slice("states")
        self._input_ids = handle.get_slice("input_ids")

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def row(self, uid: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Example `uid`'s states (T_i, d_sender) and sender token ids (T_i,)."""
        if uid not in self.index:
            raise SenderCacheError(
                f"example {uid!r} is not in {self.path} ({len(self.ids)} examples of "
                f"{self.key.get('dataset')!r} {self.key.get('split')!r}); the cache was made for "
                "another example list: rebuild it (delete the file and rerun the workflow)"
            )
        i = self.index[uid]
        begin, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return self._states[begin:end], self._input_ids[begin:end]

    def batch(
        self, uids: Sequence[str], device: torch.device, dtype: torch.dtype | None = None
    ) -> SenderStatesBatch:
        """Rows of `uids`, right-padded with zeros into (B, T, d), with the mask and ids."""
        rows = [self.row(uid) for uid in uids]
        width = max(states.shape[0] for states, _ in rows)
        first = rows[0][0]
        states = first.new_zeros((len(rows), width, first.shape[1]))  # (B, T, d)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, token_ids) in enumerate(rows):
            states[i, : row.shape[0]] = row
            mask[i, : row.shape[0]] = 1
            ids[i, : row.shape[0]] = token_ids
        return SenderStatesBatch(
            states.to(device=device, dtype=dtype or states.dtype), mask.to(device), ids.to(device)
        )


def open_sender_cache(path: Path, expected_key: Mapping[str, Any]) -> SenderCache:
    """Open a cache file and check that it was made with exactly `expected_key`'s settings."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise SenderCacheError(
            f"sender cache {path} does not exist; the workflow's cache_sender_states rule writes "
            "it (or turn the cache off with `sender_cache: false` in the grid)"
        )
    try:
        handle = safe_open(str(path), framework="pt")
        metadata = handle.metadata() or {}
    except Exception as err:  # safetensors raises its own types for a torn or foreign file
        raise SenderCacheError(f"{path} is not a readable safetensors file: {err}") from err
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise SenderCacheError(
            f"{path} is not a sender cache of version {VERSION} (format "
            f"{metadata.get('format')!r}, version {metadata.get('version')!r}); rebuild it"
        )
    cache = SenderCache(path, metadata, handle)
    differences = {
        name: (cache.key.get(name), value)
        for name, value in json.loads(json.dumps(dict(expected_key))).items()
        if cache.key.get(name) != value
    }
    if differences:
        said = "; ".join(f"{k}: file {f!r}, job {j!r}" for k, (f, j) in sorted(differences.items()))
        raise SenderCacheError(
            f"sender cache {path} was made with other settings than this job's ({said}); "
            "delete it and rerun the workflow, which rebuilds it for these settings"
        )
    return cache
