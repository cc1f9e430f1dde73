"""The sender-cache file: written in a stream, read back by safetensors itself, and refused,
naming the file and the fix, when it is not what the job needs."""

from __future__ import annotations

import pytest
import torch

from telepathy.results.sender_cache import SenderCacheError, SenderCacheWriter, open_sender_cache

KEY = {"dataset": "sst2", "split": "eval", "source_layer": 2}


def _write(path, dtype=torch.float32, key=KEY):
    torch.manual_seed(0)
    rows = [torch.randn(n, 6) for n in (3, 1, 5)]
    ids = [torch.arange(n) + 7 for n in (3, 1, 5)]
    writer = SenderCacheWriter(path, ["a", "b", "c"], [3, 1, 5], 6, dtype, key)

    def produce(append):
        append(rows[:2], ids[:2])  # two batches, as the sender produces them
        append(rows[2:], ids[2:])

    writer.write(produce)
    return rows, ids


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_batch_reads_back_right_padded_with_zeros_and_its_mask(tmp_path, dtype):
    path = tmp_path / "c.safetensors"
    rows, ids = _write(path, dtype)
    cache = open_sender_cache(path, KEY)
    assert cache.n_tokens == 9 and cache.ids == ["a", "b", "c"]
    batch = cache.batch(["c", "a", "b"], torch.device("cpu"))
    assert batch.states.dtype == dtype and batch.states.shape == (3, 5, 6)
    assert batch.attention_mask.tolist() == [[1] * 5, [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
    for i, source in enumerate((2, 0, 1)):
        n = rows[source].shape[0]
        assert torch.equal(batch.states[i, :n], rows[source].to(dtype))
        assert torch.equal(batch.input_ids[i, :n], ids[source])
        assert not batch.states[i, n:].any()


def test_a_cache_made_with_other_settings_is_refused_naming_each_difference(tmp_path):
    path = tmp_path / "c.safetensors"
    _write(path)
    with pytest.raises(SenderCacheError, match=r"source_layer: file 2, job 3") as err:
        open_sender_cache(path, {**KEY, "source_layer": 3})
    assert str(path) in str(err.value) and "delete it and rerun" in str(err.value)


def test_an_example_outside_the_cache_is_named(tmp_path):
    path = tmp_path / "c.safetensors"
    _write(path)
    with pytest.raises(SenderCacheError, match="example 'z' is not in"):
        open_sender_cache(path, KEY).batch(["a", "z"], torch.device("cpu"))


def test_a_missing_torn_or_foreign_file_is_refused(tmp_path):
    with pytest.raises(SenderCacheError, match=r"does not exist.*cache_sender_states"):
        open_sender_cache(tmp_path / "none.safetensors", KEY)
    path = tmp_path / "c.safetensors"
    _write(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SenderCacheError, match="not a readable safetensors file"):
        open_sender_cache(path, KEY)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(SenderCacheError, match="is not a sender cache"):
        open_sender_cache(tmp_path / "other.safetensors", KEY)


def test_the_writer_refuses_rows_that_do_not_fit_the_layout(tmp_path):
    writer = SenderCacheWriter(tmp_path / "c.safetensors", ["a"], [3], 6, torch.float32, KEY)
    with pytest.raises(ValueError, match=r"example 'a': rows \(2, 6\)"):
        writer.write(lambda append: append([torch.zeros(2, 6)], [torch.zeros(2)]))
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind
